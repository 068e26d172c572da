//! [`MetadataCache`]: a broker's copy of the metadata image, kept current by following
//! `BrokerService.FetchMetadata` (SPEC §5: a broker's view is identified by an offset).
//!
//! ```text
//!  follow task ──► FetchMetadata{offset = applied or -1} on some bootstrap controller
//!     image chunks ─► buffered ─► last chunk: decode, replace the whole image
//!     delta n      ─► n ≤ applied: ignored (never applied twice)
//!                     n = applied + 1: committed::apply_entry (the controllers' own code)
//!                     n > applied + 1: gap ─► reconnect from applied
//!     error / EOF / silence ─► next controller, backoff, resume from applied
//! ```
//!
//! [`CacheState`] is the pure part (no I/O) and is what the unit tests drive.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use kraft_controller::MetadataImage;
use kraft_controller::committed::apply_entry;
use kraft_proto::broker_service_client::BrokerServiceClient;
use kraft_proto::fetch_metadata_response::Payload;
use kraft_proto::{FetchMetadataRequest, FetchMetadataResponse, MetadataDelta, MetadataImageChunk};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::{Client, ClientError, parse_bootstrap};

/// A stable hash of an image: CRC-32 of [`MetadataImage::encode`]. Two images with the same
/// records applied at the same offsets encode to the same bytes, so equal images hash equal on
/// every broker and controller.
pub fn image_hash(image: &MetadataImage) -> u32 {
    // Encoding plain serde structs with string map keys cannot fail; hash nothing rather than
    // panic if it ever does.
    crc32fast::hash(&image.encode().unwrap_or_default())
}

/// What one stream message did to a [`CacheState`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applied {
    /// The delta at this offset was applied.
    Delta(u64),
    /// A full image at this offset replaced the cache's state.
    Image(u64),
    /// A non-final chunk of an image was buffered.
    ImageChunk,
    /// A delta or image at or below the applied offset: ignored.
    Duplicate(u64),
    /// A keep-alive with the serving controller's applied offset (`-1`: none).
    KeepAlive(i64),
}

/// A message the cache cannot apply in order: the stream must restart from
/// [`CacheState::offset`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// A delta that does not follow the applied offset.
    #[error("metadata stream gap: applied {applied:?}, next delta is {got}")]
    Gap {
        /// The cache's applied offset (`None`: nothing yet).
        applied: Option<u64>,
        /// The offset that arrived.
        got: u64,
    },
    /// Image chunks out of order, or image bytes that do not decode to an image at their
    /// offset.
    #[error("bad metadata image at offset {offset}: {reason}")]
    BadImage {
        /// The chunk's offset.
        offset: i64,
        /// What was wrong.
        reason: String,
    },
    /// A message that breaks the protocol otherwise (no payload, negative offset).
    #[error("bad metadata stream message: {0}")]
    Protocol(String),
}

struct PendingImage {
    offset: u64,
    bytes: Vec<u8>,
}

/// The pure state of a metadata cache: the image, its offset, and a partly received image.
#[derive(Default)]
pub struct CacheState {
    image: MetadataImage,
    offset: Option<u64>,
    pending: Option<PendingImage>,
}

impl CacheState {
    /// An empty cache (nothing applied).
    pub fn new() -> Self {
        Self::default()
    }

    /// The image as of [`CacheState::offset`].
    pub fn image(&self) -> &MetadataImage {
        &self.image
    }

    /// The last applied offset; `None` before the first image.
    pub fn offset(&self) -> Option<u64> {
        self.offset
    }

    /// Forgets a partly received image: call when a stream ends.
    pub fn reset_stream(&mut self) {
        self.pending = None;
    }

    /// Applies one stream message. On `Err` nothing changed and the caller must reconnect
    /// from [`CacheState::offset`].
    pub fn handle(&mut self, msg: FetchMetadataResponse) -> Result<Applied, StreamError> {
        match msg.payload {
            Some(Payload::Delta(d)) => self.delta(d),
            Some(Payload::Image(c)) => self.chunk(c),
            Some(Payload::KeepAlive(k)) => Ok(Applied::KeepAlive(k.committed_offset)),
            None => Err(StreamError::Protocol("message without payload".into())),
        }
    }

    fn delta(&mut self, d: MetadataDelta) -> Result<Applied, StreamError> {
        if self.pending.is_some() {
            return Err(StreamError::Protocol(format!(
                "delta {} inside an image",
                d.offset
            )));
        }
        let got = u64::try_from(d.offset)
            .map_err(|_| StreamError::Protocol(format!("negative delta offset {}", d.offset)))?;
        match self.offset {
            Some(applied) if got <= applied => Ok(Applied::Duplicate(got)),
            Some(applied) if got == applied + 1 => {
                let data = (!d.batch.is_empty()).then_some(d.batch.as_slice());
                apply_entry(&mut self.image, got, data);
                self.offset = Some(got);
                Ok(Applied::Delta(got))
            }
            applied => Err(StreamError::Gap { applied, got }),
        }
    }

    fn chunk(&mut self, c: MetadataImageChunk) -> Result<Applied, StreamError> {
        let bad = |reason: String| StreamError::BadImage {
            offset: c.offset,
            reason,
        };
        let offset = u64::try_from(c.offset).map_err(|_| bad("negative offset".into()))?;
        let mut pending = match self.pending.take() {
            None => PendingImage {
                offset,
                bytes: Vec::new(),
            },
            Some(p) if p.offset == offset => p,
            Some(p) => {
                return Err(bad(format!(
                    "chunk of a new image while the image at {} is incomplete",
                    p.offset
                )));
            }
        };
        if u64::try_from(c.position).ok() != Some(pending.bytes.len() as u64) {
            return Err(bad(format!(
                "chunk at position {} after {} bytes",
                c.position,
                pending.bytes.len()
            )));
        }
        pending.bytes.extend_from_slice(&c.data);
        if !c.last {
            self.pending = Some(pending);
            return Ok(Applied::ImageChunk);
        }
        if self.offset.is_some_and(|applied| offset <= applied) {
            // Never go back: what the image holds is already applied here.
            return Ok(Applied::Duplicate(offset));
        }
        let image = MetadataImage::decode(&pending.bytes).map_err(|e| bad(e.to_string()))?;
        if image.last_applied_offset() != offset {
            return Err(bad(format!(
                "image bytes are at offset {}",
                image.last_applied_offset()
            )));
        }
        self.image = image;
        self.offset = Some(offset);
        Ok(Applied::Image(offset))
    }
}

/// How a [`MetadataCache`] connects and reconnects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheConfig {
    /// Timeout of one connection attempt.
    pub connect_timeout: Duration,
    /// A stream silent this long is abandoned (controllers send keep-alives every second).
    pub idle_timeout: Duration,
    /// Backoff after the first failed stream; doubles per failure up to `max_backoff`.
    pub initial_backoff: Duration,
    /// Upper bound of the backoff.
    pub max_backoff: Duration,
    /// TLS and credentials (default: plaintext, none).
    pub security: crate::Security,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(2),
            idle_timeout: Duration::from_secs(5),
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(1),
            security: crate::Security::default(),
        }
    }
}

struct Shared {
    endpoints: Vec<String>,
    config: CacheConfig,
    state: RwLock<CacheState>,
    offset: watch::Sender<Option<u64>>,
    events: broadcast::Sender<Applied>,
}

/// Applied deltas and images buffered for a slow [`MetadataCache::subscribe`] receiver.
const EVENT_BUFFER: usize = 4096;

impl Shared {
    fn state(&self) -> std::sync::RwLockReadGuard<'_, CacheState> {
        // Never held across an await and apply leaves the state consistent on every path.
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn handle(&self, msg: FetchMetadataResponse) -> Result<Applied, StreamError> {
        let applied = {
            let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
            state.handle(msg)?
        };
        if let Applied::Delta(o) | Applied::Image(o) = applied {
            // The event first: whoever sees the new offset (`wait_for_offset`) finds every
            // event up to it already queued for its subscribers. No subscriber is fine.
            let _ = self.events.send(applied.clone());
            self.offset.send_replace(Some(o));
        }
        Ok(applied)
    }

    fn reset_stream(&self) {
        self.state
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .reset_stream();
    }
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A broker's metadata image, following the controllers' committed log.
///
/// Cheap to clone; clones share the image. The background task that follows the stream stops
/// when the last clone is dropped.
#[derive(Clone)]
pub struct MetadataCache {
    shared: Arc<Shared>,
    _task: Arc<AbortOnDrop>,
}

impl std::fmt::Debug for MetadataCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetadataCache")
            .field("endpoints", &self.shared.endpoints)
            .field("offset", &self.offset())
            .finish()
    }
}

impl MetadataCache {
    /// Starts following `bootstrap` (`host:port[,host:port]`, any controller) from nothing.
    /// Must be called inside a tokio runtime.
    pub fn start(bootstrap: &str) -> Result<Self, ClientError> {
        Ok(Self::start_at(
            parse_bootstrap(bootstrap)?,
            CacheConfig::default(),
        ))
    }

    /// Starts following the controllers `client` knows, with its connect timeout.
    pub fn for_client(client: &Client) -> Self {
        let config = CacheConfig {
            connect_timeout: client.config().connect_timeout,
            security: client.config().security.clone(),
            ..CacheConfig::default()
        };
        Self::start_at(client.endpoints().to_vec(), config)
    }

    /// Starts following `endpoints` (URIs as [`parse_bootstrap`] returns them).
    pub fn start_at(endpoints: Vec<String>, config: CacheConfig) -> Self {
        let (offset, _) = watch::channel(None);
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let shared = Arc::new(Shared {
            endpoints,
            config,
            state: RwLock::new(CacheState::new()),
            offset,
            events,
        });
        let task = tokio::spawn(follow(shared.clone()));
        Self {
            shared,
            _task: Arc::new(AbortOnDrop(task)),
        }
    }

    /// The last applied offset; `None` before the first image arrived.
    pub fn offset(&self) -> Option<u64> {
        self.shared.state().offset()
    }

    /// The offset to report in `BrokerHeartbeat.current_metadata_offset` (`-1`: none).
    pub fn heartbeat_offset(&self) -> i64 {
        self.offset()
            .map(|o| i64::try_from(o).unwrap_or(i64::MAX))
            .unwrap_or(-1)
    }

    /// A watch of the applied offset, updated after every applied delta or image.
    pub fn watch_offset(&self) -> watch::Receiver<Option<u64>> {
        self.shared.offset.subscribe()
    }

    /// Every [`Applied::Delta`] and [`Applied::Image`] from now on, in apply order (Kafka's
    /// metadata publishers): deltas are strictly consecutive, an image only moves forward.
    pub fn subscribe(&self) -> broadcast::Receiver<Applied> {
        self.shared.events.subscribe()
    }

    /// A copy of the image (its offset is `image().last_applied_offset()`).
    pub fn image(&self) -> MetadataImage {
        self.shared.state().image().clone()
    }

    /// Runs `f` on the current image without copying it. Do not block in `f`: the stream
    /// waits for it.
    pub fn read<R>(&self, f: impl FnOnce(&MetadataImage) -> R) -> R {
        f(self.shared.state().image())
    }

    /// [`image_hash`] of the current image, with the offset it is at (read together).
    pub fn image_hash(&self) -> (Option<u64>, u32) {
        let state = self.shared.state();
        (state.offset(), image_hash(state.image()))
    }

    /// Waits until the applied offset is at least `offset`; returns the offset reached.
    pub async fn wait_for_offset(
        &self,
        offset: u64,
        timeout: Duration,
    ) -> Result<u64, ClientError> {
        let mut rx = self.watch_offset();
        match tokio::time::timeout(timeout, rx.wait_for(|o| o.is_some_and(|o| o >= offset))).await {
            Ok(Ok(o)) => Ok(o.unwrap_or(offset)),
            // The sender lives in `self.shared`, so the channel cannot close while we wait.
            Ok(Err(_)) | Err(_) => Err(ClientError::WaitTimeout {
                what: format!("metadata offset {offset}"),
                after: timeout,
                last: format!("applied {:?}", self.offset()),
            }),
        }
    }
}

/// Follows the stream forever, moving to the next controller after any failure.
async fn follow(shared: Arc<Shared>) {
    if shared.endpoints.is_empty() {
        warn!("metadata cache has no controller to follow");
        return;
    }
    let cfg = shared.config.clone();
    let mut backoff = cfg.initial_backoff;
    let mut cursor = 0usize;
    loop {
        let endpoint = shared.endpoints[cursor % shared.endpoints.len()].clone();
        let before = shared.state().offset();
        match follow_one(&shared, &endpoint).await {
            Ok(()) => debug!(%endpoint, "metadata stream ended"),
            Err(e) => warn!(%endpoint, error = %e, "metadata stream failed; reconnecting"),
        }
        shared.reset_stream();
        if shared.state().offset() != before {
            backoff = cfg.initial_backoff;
        }
        cursor = cursor.wrapping_add(1);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(cfg.max_backoff);
    }
}

/// One stream from one controller, until it fails, ends or stalls.
async fn follow_one(shared: &Shared, endpoint: &str) -> Result<(), String> {
    let channel = shared
        .config
        .security
        .endpoint(endpoint)
        .map_err(|e| e.to_string())?
        .connect_timeout(shared.config.connect_timeout)
        .connect()
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let from = shared
        .state()
        .offset()
        .map(|o| i64::try_from(o).unwrap_or(i64::MAX))
        .unwrap_or(-1);
    let mut stream = tokio::time::timeout(
        shared.config.idle_timeout,
        BrokerServiceClient::new(channel).fetch_metadata({
            let mut req = tonic::Request::new(FetchMetadataRequest { offset: from });
            shared.config.security.authorize(&mut req);
            req
        }),
    )
    .await
    .map_err(|_| "no answer to FetchMetadata".to_owned())?
    .map_err(|s| format!("FetchMetadata: {:?}: {}", s.code(), s.message()))?
    .into_inner();
    debug!(%endpoint, from, "following metadata");
    loop {
        let msg = match tokio::time::timeout(shared.config.idle_timeout, stream.message()).await {
            Err(_) => return Err(format!("silent for {:?}", shared.config.idle_timeout)),
            Ok(Err(s)) => return Err(format!("{:?}: {}", s.code(), s.message())),
            Ok(Ok(None)) => return Ok(()),
            Ok(Ok(Some(m))) => m,
        };
        match shared.handle(msg).map_err(|e| e.to_string())? {
            Applied::Image(o) => info!(%endpoint, offset = o, "loaded metadata image"),
            Applied::Delta(o) => debug!(offset = o, "applied metadata delta"),
            _ => {}
        }
    }
}

#[cfg(test)]
#[path = "cache_test.rs"]
mod tests;
