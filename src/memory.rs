//! How the server hands back memory it has finished with. glibc's allocator gives threads that
//! meet at the heap arenas of their own (up to eight per core) and keeps what is freed in each
//! for that arena's later use, so after a report computed on one thread and a PDF written on
//! another the process would go on holding both. Two arenas, and a trim after the largest work
//! (`report::cache`) and after the OpenAPI document is written (`web::api::health`), keep the
//! server near what it is using. Other allocators and systems need neither, and get neither.

/// At most two arenas; called first thing in `main`, before any thread starts.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; no thread has allocated concurrently yet.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Returns the free memory at the top and in the middle of every arena to the system.
pub fn give_back() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes each arena's lock; it is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}
