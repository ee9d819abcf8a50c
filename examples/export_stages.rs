//! Where one export's time goes, stage by stage, on one core: `cargo run --release --example
//! export_stages -- bench/out/corpus_20000` (threads are read into memory first).

#![allow(clippy::print_stdout, reason = "a benchmark tool reports on the terminal")]

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::{Duration, Instant};

use threadkit::conversation::{tool_definitions, Changes, Conversation};
use threadkit::export::format::Profile;
use threadkit::tokens::{Counter, Tokenizer};

fn main() {
    let dir = std::env::args().nth(1).expect("a corpus folder");
    let mut texts = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap().take(5000) {
        texts.push(std::fs::read_to_string(e.unwrap().path()).unwrap());
    }
    let counter = Counter::new(Tokenizer::O200kBase);
    counter.text("warm up the vocabulary");
    let format = Profile::Openai.format();
    let mut t = [Duration::ZERO; 5];
    // `direct_line`: checking and writing the line from the conversation, as export does
    // without a chat template (rendering an example is the template path's).
    let names = ["parse", "check", "conversation", "tokens", "line"];
    let mut bytes = 0;
    for text in &texts {
        let mut at = Instant::now();
        let mut lap = |i: usize| {
            let now = Instant::now();
            t[i] += now - at;
            at = now;
        };
        let doc = threadkit::source::parse(text).unwrap();
        lap(0);
        let checked = threadkit::check::check(&doc, None, threadkit::check::Options { data_root: None });
        lap(1);
        if checked.diagnostics.iter().any(|d| d.is_error()) {
            continue;
        }
        let mut changes = Changes::new();
        let conv = Conversation::of_thread(&doc, &mut changes).unwrap();
        let tools = tool_definitions(&conv, &mut changes);
        lap(2);
        std::hint::black_box(counter.conversation(&conv, &tools.json));
        lap(3);
        bytes += format.direct_line(&conv, &tools, &mut changes).unwrap().unwrap().len();
        lap(4);
    }
    println!("{} threads, {} MB of lines", texts.len(), bytes >> 20);
    if rounds_wanted() == 0 {
        return report(&names, &t);
    }
    // Token counting alone, three times over the same conversations (its memo warm).
    let docs: Vec<_> = texts.iter().map(|t| threadkit::source::parse(t).unwrap()).collect();
    let convs: Vec<_> = docs.iter().filter_map(|d| Conversation::of_thread(d, &mut Changes::new()).ok()).collect();
    let json = tool_definitions(&convs[0], &mut Changes::new()).json.clone();
    let rounds = rounds_wanted();
    let best = (0..rounds)
        .map(|_| {
            let at = Instant::now();
            for c in &convs {
                std::hint::black_box(counter.conversation(c, &json));
            }
            at.elapsed()
        })
        .min()
        .unwrap();
    println!("tokens alone, best of 3: {:.1} ms", best.as_secs_f64() * 1e3);
    report(&names, &t);
}

fn rounds_wanted() -> usize {
    std::env::var("ROUNDS").map_or(3, |r| r.parse().unwrap())
}

fn report(names: &[&str], t: &[Duration]) {
    let total: Duration = t.iter().sum();
    for (name, d) in names.iter().zip(t) {
        println!("{name:>14}: {:>7.1} ms  {:>4.1} %", d.as_secs_f64() * 1e3, 100.0 * d.as_secs_f64() / total.as_secs_f64());
    }
}

