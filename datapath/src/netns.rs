//! Entering a network namespace from the current thread.
//!
//! Linux keeps the network namespace per thread, and a socket stays in the
//! namespace it was created in. So an agent, probe or server thread calls
//! [`enter`] once and everything it opens (or forks, like `ping`) lives in
//! that node's or Pod's namespace, while the rest of antlab stays in the root
//! namespace. Threads die with the process, so a killed run leaves no agent
//! behind; the namespaces themselves are removed by `antlab real down`.

use std::os::fd::AsRawFd;

/// Moves the calling thread into the named namespace (`/run/netns/<name>`).
pub fn enter(name: &str) -> std::io::Result<()> {
    enter_path(&format!("/run/netns/{name}"))
}

/// Same by path, e.g. `/proc/<pid>/ns/net` of a kind node's container.
pub fn enter_path(path: &str) -> std::io::Result<()> {
    let f = std::fs::File::open(path)?;
    // SAFETY: setns on a valid, open namespace fd; affects only this thread.
    let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// A thread name from text that may come from YAML (a Pod's name): Rust
/// refuses names with a NUL byte, so control characters become `_`.
fn thread_label(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '_' } else { c })
        .collect()
}

/// Spawns a thread that runs `f` inside namespace `name`.
pub fn spawn_in<F>(
    name: &str,
    thread_name: String,
    f: F,
) -> std::io::Result<std::thread::JoinHandle<()>>
where
    F: FnOnce() + Send + 'static,
{
    let ns = name.to_string();
    std::thread::Builder::new()
        .name(thread_label(&thread_name))
        .spawn(move || {
            if let Err(e) = enter(&ns) {
                eprintln!("antlab: cannot enter netns {ns}: {e}");
                return;
            }
            f()
        })
}

#[cfg(test)]
mod tests {
    #[test]
    fn thread_names_from_yaml_cannot_hold_a_nul() {
        let name = super::thread_label("http-web/a\0b\nc");
        assert_eq!(name, "http-web/a_b_c");
        // Rust's own check, which would panic on the original text.
        let t = std::thread::Builder::new().name(name).spawn(|| ()).unwrap();
        t.join().unwrap();
    }
}
