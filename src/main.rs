use std::process::ExitCode;

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
    ExitCode::from(threadkit::main_with(std::env::args_os()))
}
