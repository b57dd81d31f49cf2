//! Runs the futures of a tokio-based client (OpenDAL, object_store, the AWS SDK) from any
//! executor: each call is spawned on a process-wide tokio runtime that stratovec owns and
//! its join handle awaited, so a caller driving the engine with `pollster::block_on`,
//! another executor, or a tokio runtime of its own (even a current-thread one, whose only
//! thread a synchronous engine call blocks) works the same.

use std::future::Future;
use std::sync::OnceLock;

use tokio::runtime::{Handle, Runtime};

use crate::StoreError;

/// Worker threads of the runtime.
const SHARED_WORKERS: usize = 2;

/// A handle of the runtime that store calls run on.
#[derive(Debug, Clone)]
pub(crate) struct Bridge {
    handle: Handle,
}

impl Bridge {
    /// The process-wide runtime, made on first use. Never the caller's runtime: the engine's
    /// synchronous calls (automatic commits, lazy index loads, DiskANN node reads through
    /// a cache) block their thread on store futures, which would deadlock a current-thread
    /// runtime whose only thread is the one blocked.
    pub(crate) fn shared() -> Result<Self, StoreError> {
        static SHARED: OnceLock<Result<Runtime, String>> = OnceLock::new();
        let rt = SHARED.get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(SHARED_WORKERS)
                .thread_name("stratovec-io")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        });
        match rt {
            Ok(rt) => Ok(Bridge { handle: rt.handle().clone() }),
            Err(e) => Err(StoreError::Rejected(format!("cannot start a tokio runtime for the store: {e}"))),
        }
    }

    /// Runs `f` on the runtime and waits for it without blocking the caller's executor.
    pub(crate) async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        match self.handle.spawn(f).await {
            Ok(r) => r,
            Err(e) => Err(StoreError::Unavailable(format!("store task failed: {e}"))),
        }
    }
}
