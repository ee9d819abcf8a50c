//! `export --partitions N`: each split written as N files while the workers run, instead of
//! one file in id order after them. An example's partition is a hash of its id, its split the
//! hash of its recording (`split::by_hash`), and inside a file lines keep the order threads
//! are taken in (path order, whatever the number of workers): the bytes of every file follow
//! from the input, the seed and N alone, and the durable write of the lines overlaps the work.

use std::collections::BTreeMap;
use std::io;

use sha2::{Digest, Sha256};

use super::sink::{Compression, FileInfo, Lines, Outputs};
use super::split::{self, SplitSpec};

pub struct Partitions {
    count: u32,
    spec: SplitSpec,
    seed: u64,
    compression: Compression,
    /// By (split, partition); opened at their first line, so an empty one is no file.
    open: BTreeMap<(usize, u32), Lines>,
}

/// The partition of an example: the first 8 bytes of the SHA-256 of its id, modulo `count`.
pub fn partition_of(id: &str, count: u32) -> u32 {
    let digest = Sha256::digest(id.as_bytes());
    let n = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
    (n % u64::from(count)) as u32
}

/// The name of a partition file under the output folder.
pub fn file_name(split: &str, partition: u32, count: u32, compression: Compression) -> String {
    format!("{split}/{split}-{partition:05}-of-{count:05}.jsonl{}", compression.extension())
}

impl Partitions {
    pub fn new(count: u32, spec: SplitSpec, seed: u64, compression: Compression) -> Partitions {
        Partitions { count, spec, seed, compression, open: BTreeMap::new() }
    }

    /// The split of a recording: the one `export --split-method hash` assigns after the run.
    pub fn split_of(&self, dataset: &str, session: &str) -> usize {
        split::by_hash(&self.spec, self.seed, dataset, session)
    }

    /// Take one example's line (without its newline).
    pub fn add(&mut self, outputs: &mut Outputs, split: usize, id: &str, line: &[u8]) -> io::Result<()> {
        let partition = partition_of(id, self.count);
        let part = match self.open.entry((split, partition)) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => {
                let name = &self.spec.parts[split].0;
                let stream = outputs.stream(&file_name(name, partition, self.count, self.compression), Some(name.clone()), self.compression)?;
                e.insert(Lines::new(stream))
            }
        };
        part.push(line).map(drop)
    }

    /// Every file written whole, listed in split then partition order.
    pub fn finish(self) -> io::Result<Vec<FileInfo>> {
        let mut files = Vec::with_capacity(self.open.len());
        let mut first_error = None;
        for (_, part) in self.open {
            match part.finish() {
                Ok((info, _)) => files.push(info),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(files),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_spread_ids_and_never_move_one() {
        let mut counts = [0usize; 4];
        for i in 0..4000 {
            counts[partition_of(&format!("uci_har_{i:05}"), 4) as usize] += 1;
        }
        assert!(counts.iter().all(|&n| (850..1150).contains(&n)), "{counts:?}");
        assert_eq!(partition_of("uci_har_00001", 4), partition_of("uci_har_00001", 4));
        assert_eq!(file_name("train", 3, 8, Compression::Zstd), "train/train-00003-of-00008.jsonl.zst");
    }
}
