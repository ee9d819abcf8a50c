//! Splits written straight into their files while the threads come. A split's file is its
//! examples in id order; thread files are named by their ids, so the walk (in path order)
//! usually brings each split's examples in that order already, and then each line can go to
//! its file as it comes, instead of into the spool and out again after the run: the export
//! writes its lines once, not three times, and needs room for them once.
//!
//! A split whose examples stop coming in order is given up: the lines its file holds stay
//! readable there (`file`), and the split is written from the spool's rows after the run, as
//! without this. Only where a line's split follows from its recording alone (`--split-method
//! hash`, or one split), into one plain file per split.

use std::fs::File;
use std::io;

use super::sink::{FileInfo, Lines, Outputs};
use super::split::{self, SplitSpec};

pub struct InOrder {
    spec: SplitSpec,
    seed: u64,
    lanes: Vec<Lane>,
}

/// One split's file.
struct Lane {
    /// Its name under the output folder.
    name: String,
    state: State,
    /// The id of the last line taken (ids only grow in a lane that is open).
    last_id: String,
}

enum State {
    /// Every line of the split so far, in id order.
    Open(Lines),
    /// Written and listed (`finish`), or given up; readable either way.
    Closed(File),
    /// Between the two (only while a lane closes, or after it failed to).
    Gone,
}

/// How a split's file came out of the run.
pub enum Outcome {
    /// Every example of the split, in id order: the file is done.
    Whole(FileInfo),
    /// Given up, or never used: the file staged under this name is to be discarded, and the
    /// split written from the spool.
    Not(String),
}

impl InOrder {
    /// A file opened per split, `names[k]` for split k of `spec`.
    pub fn open(outputs: &mut Outputs, spec: SplitSpec, seed: u64, names: Vec<String>) -> io::Result<InOrder> {
        let mut lanes = Vec::with_capacity(names.len());
        for (name, (split, _)) in names.into_iter().zip(&spec.parts) {
            let stream = outputs.stream(&name, Some(split.clone()), super::sink::Compression::None)?;
            lanes.push(Lane { name, state: State::Open(Lines::new(stream)), last_id: String::new() });
        }
        Ok(InOrder { spec, seed, lanes })
    }

    /// Write one example's line to its split's file if the split is still in order: the lane
    /// and where the line starts in its file. `None`: the line goes to the spool.
    pub fn take(&mut self, dataset: &str, session: &str, id: &str, line: &[u8]) -> io::Result<Option<(usize, u64)>> {
        let k = split::by_hash(&self.spec, self.seed, dataset, session);
        let lane = &mut self.lanes[k];
        let State::Open(lines) = &mut lane.state else { return Ok(None) };
        if lines.bytes() > 0 && id <= lane.last_id.as_str() {
            self.give_up(k)?;
            return Ok(None);
        }
        let at = lines.push(line)?;
        let lane = &mut self.lanes[k];
        lane.last_id.clear();
        lane.last_id.push_str(id);
        Ok(Some((k, at)))
    }

    /// Stop writing lane `k` as lines come: finish what it holds, keeping it readable.
    fn give_up(&mut self, k: usize) -> io::Result<()> {
        let lane = &mut self.lanes[k];
        if matches!(lane.state, State::Open(_)) {
            let State::Open(lines) = std::mem::replace(&mut lane.state, State::Gone) else { unreachable!("open, just seen") };
            let (_, file) = lines.finish()?;
            lane.state = State::Closed(file);
        }
        Ok(())
    }

    /// The file of lane `k`, to read lines back; a lane still open is given up first (its
    /// last lines may still be on their way to the file).
    pub fn file(&mut self, k: usize) -> io::Result<&File> {
        self.give_up(k)?;
        match &self.lanes[k].state {
            State::Closed(file) => Ok(file),
            _ => Err(io::Error::other(format!("{}: its writer stopped", self.lanes[k].name))),
        }
    }

    /// After `finish`: a lane's file (every lane is closed then).
    pub fn closed(&self, k: usize) -> Option<&File> {
        match &self.lanes[k].state {
            State::Closed(file) => Some(file),
            _ => None,
        }
    }

    /// No more lines: each open lane's file written whole, every lane left readable.
    pub fn finish(&mut self) -> io::Result<Vec<Outcome>> {
        let mut outcomes = Vec::with_capacity(self.lanes.len());
        for lane in &mut self.lanes {
            outcomes.push(match std::mem::replace(&mut lane.state, State::Gone) {
                State::Open(lines) => {
                    let used = lines.bytes() > 0;
                    let (info, file) = lines.finish()?;
                    lane.state = State::Closed(file);
                    if used { Outcome::Whole(info) } else { Outcome::Not(lane.name.clone()) }
                }
                other => {
                    lane.state = other;
                    Outcome::Not(lane.name.clone())
                }
            });
        }
        Ok(outcomes)
    }
}
