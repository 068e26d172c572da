//! `BrokerService.FetchMetadata`: the committed metadata log as an offset-addressed stream
//! (SPEC §5 and §9 "metadata delivery": KRaft's Fetch + FetchSnapshot for brokers).
//!
//! ```text
//!  request{offset o} ─► o+1 still in the log? ── yes ─► deltas o+1, o+2, ... as they commit
//!                                 └─ no (purged behind a snapshot, or o ≤ 0) ─► image chunks
//!                                    at offset X (taken under the machine lock), then X+1, ...
//!  idle ─► keep-alive every KEEP_ALIVE_INTERVAL with the applied offset
//! ```
//!
//! Every controller serves it, leader or not, up to its own *applied* index (applied ≤
//! committed, so a follower never streams an entry that could still be truncated). Deltas are
//! read from the Raft log, one message per log index with strictly consecutive offsets;
//! entries without a command (blank, membership) go out as an empty batch so offsets never
//! gap. New commits wake the stream through openraft's metrics watch.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use kraft_proto as pb;
use kraft_proto::fetch_metadata_response::Payload;
use openraft::async_runtime::WatchReceiver as _;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;
use tracing::{Instrument, debug, warn};

use super::Controller;
use crate::metrics::{self, FetchMessage, OpenStream};

/// Largest `data` of one image chunk.
pub const IMAGE_CHUNK_BYTES: usize = 1 << 20;
/// An idle stream gets a keep-alive this often.
pub const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(1);
/// Log entries read per storage call.
const ENTRIES_PER_READ: u64 = 256;
/// Messages buffered ahead of a slow caller (backpressure beyond that).
const STREAM_BUFFER: usize = 16;

/// The response stream of `FetchMetadata`.
pub type FetchMetadataStream =
    Pin<Box<dyn Stream<Item = Result<pb::FetchMetadataResponse, Status>> + Send + 'static>>;

/// Starts streaming committed metadata to one caller from `req.offset`; the stream ends when
/// the caller goes away or this controller shuts down.
pub fn fetch_metadata(ctl: Arc<Controller>, req: pb::FetchMetadataRequest) -> FetchMetadataStream {
    let (tx, rx) = mpsc::channel(STREAM_BUFFER);
    // 0 and -1 both mean "nothing applied": offset 0 is the bootstrap membership entry,
    // which carries no metadata, so a caller at 0 loses nothing by starting from the image.
    let from = u64::try_from(req.offset).ok().filter(|o| *o > 0);
    // The stream lives on in its own task, still inside the RPC's span (request id, peer).
    tokio::spawn(
        async move {
            let _open = OpenStream::new();
            match serve(&ctl, from, &tx).await {
                Ok(()) | Err(End::Closed) => {}
                Err(End::Failed(status)) => {
                    warn!(error = %status.message(), "metadata stream failed");
                    let _ = tx.send(Err(status)).await;
                }
            }
        }
        .instrument(tracing::Span::current()),
    );
    Box::pin(ReceiverStream::new(rx))
}

/// Why a stream stopped early.
enum End {
    /// The caller went away.
    Closed,
    /// This controller cannot go on; the caller gets the status and reconnects.
    Failed(Status),
}

type Tx = mpsc::Sender<Result<pb::FetchMetadataResponse, Status>>;

async fn send(tx: &Tx, payload: Payload) -> Result<(), End> {
    let kind = match &payload {
        Payload::Image(_) => FetchMessage::ImageChunk,
        Payload::Delta(_) => FetchMessage::Delta,
        Payload::KeepAlive(_) => FetchMessage::KeepAlive,
    };
    tx.send(Ok(pb::FetchMetadataResponse {
        payload: Some(payload),
    }))
    .await
    .map_err(|_| End::Closed)?;
    metrics::fetch_metadata_sent(kind);
    Ok(())
}

fn to_i64(offset: u64) -> i64 {
    // Log indexes beyond i64::MAX cannot happen in practice; saturate rather than wrap.
    i64::try_from(offset).unwrap_or(i64::MAX)
}

/// The stream loop. `sent` is the last offset the caller has (`None`: it needs the image).
async fn serve(ctl: &Controller, mut sent: Option<u64>, tx: &Tx) -> Result<(), End> {
    let node = ctl.node();
    let mut metrics = node.raft().metrics();
    let closing = ctl.closing();
    tokio::pin!(closing);
    let mut last_send = Instant::now();
    loop {
        let applied = node.last_applied();
        if let Some(applied) = applied {
            match sent {
                None => {
                    sent = Some(send_image(ctl, tx).await?);
                    last_send = Instant::now();
                    continue;
                }
                Some(o) if o < applied => {
                    let end = applied.min(o.saturating_add(ENTRIES_PER_READ)) + 1;
                    let entries = node
                        .read_log(o + 1..end)
                        .map_err(|e| End::Failed(Status::internal(format!("read log: {e}"))))?;
                    let mut next = o + 1;
                    for (index, command) in entries {
                        if index != next {
                            break;
                        }
                        let (batch, time_ms) = command
                            .map(|c| (c.data, to_i64(c.time_ms)))
                            .unwrap_or_default();
                        send(
                            tx,
                            Payload::Delta(pb::MetadataDelta {
                                offset: to_i64(index),
                                batch,
                                time_ms,
                            }),
                        )
                        .await?;
                        next += 1;
                    }
                    if next == o + 1 {
                        // o+1 is committed but gone from the log: purged behind a snapshot (or
                        // replaced by an installed one). Start over from the image.
                        debug!(
                            from = o + 1,
                            "requested offset no longer in the log; sending the image"
                        );
                        sent = None;
                    } else {
                        sent = Some(next - 1);
                        last_send = Instant::now();
                    }
                    continue;
                }
                // Caught up (or the caller is ahead of this controller): wait below.
                Some(_) => {}
            }
        }
        // Idle: wake on a new commit (metrics change), for a keep-alive, or when the caller
        // goes away.
        tokio::select! {
            changed = metrics.changed() => {
                if changed.is_err() {
                    return Err(End::Failed(Status::unavailable("controller is shutting down")));
                }
            }
            () = tokio::time::sleep_until(last_send + KEEP_ALIVE_INTERVAL) => {
                let committed_offset = applied.map(to_i64).unwrap_or(-1);
                send(tx, Payload::KeepAlive(pb::MetadataKeepAlive { committed_offset })).await?;
                last_send = Instant::now();
            }
            () = tx.closed() => return Err(End::Closed),
            () = &mut closing => {
                return Err(End::Failed(Status::unavailable("controller is shutting down")));
            }
        }
    }
}

/// Sends the applied image in chunks and returns its offset.
async fn send_image(ctl: &Controller, tx: &Tx) -> Result<u64, End> {
    // Encode under the machine's read lock so bytes and offset match. The binary encoding is
    // faster than a deep copy of the image (and needs no second image in memory), so apply
    // waits less than it would for a clone.
    let (offset, bytes) = ctl.read_local(|i| (i.last_applied_offset(), i.encode()));
    let bytes = bytes.map_err(|e| End::Failed(Status::internal(format!("encode image: {e}"))))?;
    debug!(offset, bytes = bytes.len(), "sending metadata image");
    let chunks = bytes.len().div_ceil(IMAGE_CHUNK_BYTES).max(1);
    for (i, chunk) in bytes.chunks(IMAGE_CHUNK_BYTES).enumerate() {
        send(
            tx,
            Payload::Image(pb::MetadataImageChunk {
                offset: to_i64(offset),
                position: to_i64((i * IMAGE_CHUNK_BYTES) as u64),
                data: chunk.to_vec(),
                last: i + 1 == chunks,
            }),
        )
        .await?;
    }
    Ok(offset)
}
