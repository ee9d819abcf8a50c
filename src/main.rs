use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

// Every thread parses into many small allocations that are freed at once; mimalloc
// handles that pattern far better than glibc's allocator (measured in bench/).
#[cfg(not(feature = "system-alloc"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // mimalloc asks for transparent huge pages; each one is 2 MB of resident memory the
    // kernel zeroes at first touch, and this process's heap is small and short-lived:
    // without them export's peak RSS is ~30 MB lower at the same speed (bench/export.sh).
    #[cfg(target_os = "linux")]
    let _ = rustix::thread::disable_transparent_huge_pages(true);
    let cli = threadkit::cli::Cli::parse();
    let stdout = std::io::stdout().lock();
    // Keys are scrubbed from all output here, whatever printed them.
    let mut out = threadkit::secret::Scrubbed(std::io::BufWriter::new(stdout));
    // Not locked for the whole run: progress bars draw to stderr from their own thread,
    // and a lock held here would block them (and the worker waiting on the bar) forever.
    let mut err = threadkit::secret::Scrubbed(std::io::stderr());
    let status = threadkit::run(cli, &mut out, &mut err);
    match out.flush() {
        // A closed pipe (`threadkit validate | head`) is the reader's choice, not our failure.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(err, "threadkit: cannot write output: {e}");
            ExitCode::from(2)
        }
        Ok(()) => ExitCode::from(status as u8),
    }
}
