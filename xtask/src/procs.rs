//! The demo's child processes: started in order, watched, and stopped by PID (never by name)
//! in reverse order on Ctrl-C, on SIGTERM, or when any of them exits.

use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

pub struct Supervisor {
    children: Vec<(String, Child)>,
    stop: Arc<AtomicBool>,
}

impl Supervisor {
    /// Installs the Ctrl-C / SIGTERM handler; xtask then outlives the signal to clean up.
    pub fn new() -> Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
            .context("cannot install Ctrl-C handler")?;
        Ok(Self { children: Vec::new(), stop })
    }

    pub fn spawn(&mut self, name: &str, cmd: &mut Command) -> Result<()> {
        cmd.env("PATH", crate::setup::child_path());
        let child = cmd.spawn().with_context(|| format!("cannot start {name} ({:?})", cmd.get_program()))?;
        println!("started {name} (pid {})", child.id());
        self.children.push((name.to_owned(), child));
        Ok(())
    }

    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Blocks until Ctrl-C or until a child exits; returns the name of a child that exited.
    pub fn wait(&mut self) -> Option<String> {
        while !self.stopping() {
            for (name, child) in &mut self.children {
                if let Ok(Some(status)) = child.try_wait() {
                    println!("{name} exited ({status}); stopping the demo");
                    return Some(name.clone());
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        None
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        for (name, mut child) in self.children.drain(..).rev() {
            if let Ok(Some(_)) = child.try_wait() {
                continue;
            }
            // SIGTERM first so servers shut down cleanly; SIGKILL after 10 s.
            let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                match child.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
                    _ => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                }
            }
            println!("stopped {name}");
        }
    }
}
