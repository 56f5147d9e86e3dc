//! A UDP forwarder a test can cut, standing in for a path that dies
//! mid-call (a NAT that rebinds, a network that goes away). Included with
//! `#[path]` by the call tests that need it.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// What reaches `front` goes on to the target from another socket, and what
/// comes back goes to the last sender, until [`CutForwarder::cut`].
pub struct CutForwarder {
    /// The address to offer as the target's candidate.
    pub front: SocketAddr,
    cut: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl CutForwarder {
    pub fn start(to: SocketAddr) -> Self {
        let front = UdpSocket::bind("127.0.0.1:0").expect("bind loopback");
        let back = UdpSocket::bind("127.0.0.1:0").expect("bind loopback");
        front.set_nonblocking(true).expect("nonblocking");
        back.set_nonblocking(true).expect("nonblocking");
        let cut = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let front_addr = front.local_addr().expect("addr");
        let thread = {
            let (cut, stop) = (cut.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut buf = [0u8; 2048];
                let mut client = None;
                while !stop.load(Ordering::Relaxed) {
                    let open = !cut.load(Ordering::Relaxed);
                    while let Ok((n, from)) = front.recv_from(&mut buf) {
                        client = Some(from);
                        if open {
                            let _ = back.send_to(&buf[..n], to);
                        }
                    }
                    while let Ok((n, _)) = back.recv_from(&mut buf) {
                        if let (true, Some(c)) = (open, client) {
                            let _ = front.send_to(&buf[..n], c);
                        }
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
        };
        CutForwarder {
            front: front_addr,
            cut,
            stop,
            thread: Some(thread),
        }
    }

    /// From now on nothing passes, either way.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::Relaxed);
    }
}

impl Drop for CutForwarder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
