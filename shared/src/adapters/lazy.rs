//! An AWS SDK client built on first use. Building one costs about 0.4 ms
//! (measured in a release build), and every container used to build all
//! of them at init, which AWS bills, whatever its function needed: list
//! and status routes use DynamoDB alone. The adapters reach the client
//! through `Deref`, so their code reads as with a plain client.

use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, OnceLock};

type Make<C> = Arc<dyn Fn() -> C + Send + Sync>;

pub struct Lazy<C> {
    cell: Arc<OnceLock<C>>,
    make: Make<C>,
}

impl<C> Lazy<C> {
    /// A client built by `make` the first time it is used.
    pub fn new(make: impl Fn() -> C + Send + Sync + 'static) -> Self {
        Self {
            cell: Arc::new(OnceLock::new()),
            make: Arc::new(make),
        }
    }

    /// A client built already (SDK clients are cheap handles to clone).
    pub fn ready(client: C) -> Self
    where
        C: Clone + Send + Sync + 'static,
    {
        Self::new(move || client.clone())
    }
}

impl<C: Clone + Send + Sync + 'static> From<C> for Lazy<C> {
    fn from(client: C) -> Self {
        Self::ready(client)
    }
}

impl<C> Deref for Lazy<C> {
    type Target = C;

    fn deref(&self) -> &C {
        self.cell.get_or_init(|| (self.make)())
    }
}

impl<C> Clone for Lazy<C> {
    fn clone(&self) -> Self {
        Self {
            cell: self.cell.clone(),
            make: self.make.clone(),
        }
    }
}

impl<C> fmt::Debug for Lazy<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lazy")
            .field("built", &self.cell.get().is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    use super::Lazy;

    #[test]
    fn a_lazy_client_is_built_once_on_first_use_and_shared_by_clones() {
        let built = Arc::new(AtomicU32::new(0));
        let counter = built.clone();
        let lazy = Lazy::new(move || counter.fetch_add(1, Ordering::SeqCst) + 100);
        let clone = lazy.clone();
        assert_eq!(built.load(Ordering::SeqCst), 0);
        assert_eq!(*clone, 100);
        assert_eq!(*lazy, 100);
        assert_eq!(built.load(Ordering::SeqCst), 1);
        assert_eq!(*Lazy::ready(7), 7);
    }
}
