//! Debian's `chromedriver` (package `chromium-driver`, installed by `scripts/test.sh` with
//! `chromium`) on a free 127.0.0.1 port, for browser tests over WebDriver; killed when dropped.
//! Sessions should ask for headless Chromium without the sandbox ([`chrome_args`]), which
//! refuses to run as root otherwise.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::http::try_http_request;
use super::moto::free_port;

/// A running chromedriver.
#[derive(Debug)]
pub struct ChromeDriver {
    child: Child,
    /// Its WebDriver endpoint, `http://127.0.0.1:PORT`.
    pub url: String,
}

/// The arguments for a headless Chromium in a container (as root, no GPU, a small /dev/shm).
pub fn chrome_args() -> Vec<&'static str> {
    vec!["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"]
}

impl ChromeDriver {
    /// Starts `chromedriver` and waits until it is ready.
    ///
    /// # Panics
    /// When it is not installed or does not become ready within 30 s.
    pub fn start() -> ChromeDriver {
        let port = free_port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("chromedriver: {e} (install the Debian packages chromium and chromium-driver)"));
        let driver = ChromeDriver { child, url: format!("http://127.0.0.1:{port}") };
        let addr = format!("127.0.0.1:{port}");
        let started = Instant::now();
        loop {
            if let Ok((200, _, body)) = try_http_request(&addr, "GET", "/status", &[], b"")
                && String::from_utf8_lossy(&body).contains("\"ready\":true")
            {
                return driver;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "chromedriver did not become ready");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
