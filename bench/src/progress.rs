//! Progress bars for long runs (off with `--no-progress` or when stderr is not a terminal).

use std::sync::atomic::{AtomicBool, Ordering};

use indicatif::{ProgressBar, ProgressStyle};

static ENABLED: AtomicBool = AtomicBool::new(true);

/// Turns progress bars off.
pub fn disable() {
    ENABLED.store(false, Ordering::SeqCst);
}

/// A bar of `len` steps labelled `what`, or `None` when bars are off.
pub fn bar(len: u64, what: &str) -> Option<ProgressBar> {
    if !ENABLED.load(Ordering::SeqCst) || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return None;
    }
    let pb = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(
        "{msg:<24} [{elapsed_precise}] {wide_bar} {pos}/{len} ({per_sec})",
    ) {
        pb.set_style(style);
    }
    pb.set_message(what.to_string());
    Some(pb)
}

/// Clears a bar.
pub fn finish(pb: Option<ProgressBar>) {
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
}
