//! Shared by the tests of the vendored sled's patches.

/// A sled database in `dir` with sled's background flusher off, as the log store opens it.
pub fn open_sled(dir: &std::path::Path) -> sled::Db {
    sled::Config::new()
        .path(dir)
        .flush_every_ms(None)
        .open()
        .expect("open sled")
}
