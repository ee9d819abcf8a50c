//! The worker pool under every command that reads many files: batches of walked entries
//! checked in parallel while the caller reports the previous batch in walk order. It sits
//! below the commands (as ripgrep keeps its parallel walk in a library) so that library code
//! can run in parallel without reaching up into the command layer.

use std::io;

use rayon::prelude::*;

use crate::walk::Entry;

/// Run `work` on every entry in parallel, in batches, and hand each batch's results
/// to `each` in walk order. The workers check batch n+1 while this thread reports
/// batch n, so walking and printing never leave a core idle; at most two batches of
/// results are held at a time, so memory does not grow with the tree.
pub fn for_each_batch<T: Send>(
    entries: impl Iterator<Item = Entry> + Send,
    jobs: Option<usize>,
    work: impl Fn(&Entry) -> T + Sync,
    mut each: impl FnMut(&rayon::ThreadPool, Vec<T>) -> io::Result<()>,
) -> io::Result<()> {
    let pool = pool(jobs);
    let (pool_ref, work) = (&pool, &work);
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<T>>(1);
        scope.spawn(move || {
            let mut entries = entries.peekable();
            while entries.peek().is_some() {
                let batch: Vec<Entry> = entries.by_ref().take(BATCH).collect();
                let results: Vec<T> = pool_ref.install(|| batch.par_iter().map(work).collect());
                // The receiver is gone only when reporting failed: stop walking.
                if tx.send(results).is_err() {
                    break;
                }
            }
        });
        for results in rx {
            each(pool_ref, results)?;
        }
        Ok(())
    })
}

/// A worker pool of the requested size (default: one thread per core).
pub fn pool(jobs: Option<usize>) -> rayon::ThreadPool {
    let mut b = rayon::ThreadPoolBuilder::new();
    if let Some(n) = jobs.filter(|&n| n > 0) {
        b = b.num_threads(n);
    }
    b.build().unwrap_or_else(|_| rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("a one-thread pool"))
}

/// How many files one parallel batch holds: enough to keep every core busy,
/// few enough that memory stays flat however large the tree is.
const BATCH: usize = 1024;
