//! Loading an artifact does not copy its automata: a counting allocator
//! sees far fewer bytes allocated than the automata take.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

// SAFETY: defers every call to the system allocator, only counting.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn loading_borrows_the_automata_in_place() {
    let text = zenc::synth::policy(1_000, 3);
    let compilation = zenc::check_source(std::path::Path::new("synth.zen"), &text);
    let bytes = zbin::AlignedBytes::new(&compilation.artifact().expect("compiles"));
    let before = ALLOCATED.load(Ordering::Relaxed);
    let program = zbin::Program::from_bytes(bytes.as_bytes()).expect("loads");
    let allocated = ALLOCATED.load(Ordering::Relaxed) - before;
    let automata: usize = program.host_automaton().map_or(0, |a| a.memory_usage())
        + program.path_automaton().map_or(0, |a| a.memory_usage());
    assert!(
        automata > 1 << 20,
        "the automata should be large enough to notice: {automata}"
    );
    // A copy would allocate at least the automata's size; the metadata
    // (routes, names, buckets) accounts for what is allocated.
    assert!(
        allocated * 2 < automata,
        "loading allocated {allocated} bytes for {automata} bytes of automata: they were copied"
    );
}
