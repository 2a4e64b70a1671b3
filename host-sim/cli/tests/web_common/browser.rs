//! Headless chromium driven through its own chromium-driver process (WebDriver over
//! plain HTTP on a free loopback port), behind a blocking API: every call is bounded,
//! and the driver and browser are ended (by process group id) when the value drops.

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Any one WebDriver command.
const CMD_TIMEOUT: Duration = Duration::from_secs(30);
/// The driver coming up and a session (a browser) starting.
const START_TIMEOUT: Duration = Duration::from_secs(30);

fn chromedriver_bin() -> String {
    std::env::var("GLITTER_CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into())
}

fn chromium_bin() -> String {
    std::env::var("GLITTER_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into())
}

/// A chromium-driver process in its own process group (the browsers it starts are in
/// it too), killed with the group.
struct Driver {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Driver {
    fn spawn(log_dir: &Path, label: &str) -> Driver {
        let mut last = String::new();
        for attempt in 0..5 {
            // A free port: bound then released (another process may take it in
            // between, so a driver that dies at once is retried on another port).
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let log = log_dir.join(format!("chromedriver-{label}-{attempt}.log"));
            let child = Command::new(chromedriver_bin())
                .arg(format!("--port={port}"))
                .arg(format!("--log-path={}", log.display()))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| {
                    panic!(
                        "spawn {} (install chromium-driver): {e}",
                        chromedriver_bin()
                    )
                });
            let mut d = Driver { child, port, log };
            let start = Instant::now();
            while start.elapsed() < START_TIMEOUT {
                if let Ok(Some(st)) = d.child.try_wait() {
                    last = format!("chromedriver on port {port} exited: {st}");
                    break;
                }
                if d.ready() {
                    return d;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if last.is_empty() {
                last = format!("chromedriver on port {port} not ready in {START_TIMEOUT:?}");
            }
            d.kill();
        }
        panic!("no chromedriver: {last}");
    }

    fn ready(&self) -> bool {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        super::http::HttpRequest::get("/status")
            .try_send(addr)
            .map(|r| r.status == 200 && r.body.contains("\"ready\":true"))
            .unwrap_or(false)
    }

    fn kill(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let pgid = nix::unistd::Pid::from_raw(self.child.id() as i32);
            let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn log_tail(&self, n: usize) -> String {
        tail(&std::fs::read_to_string(&self.log).unwrap_or_default(), n)
    }
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// One browser session (its own driver process and browser profile).
pub struct Browser {
    pub label: String,
    rt: tokio::runtime::Runtime,
    client: Option<Client>,
    driver: Driver,
    /// `http://127.0.0.1:PORT` of the app once logged in.
    pub base: String,
    /// Where failure screenshots go.
    artifacts: PathBuf,
}

impl Drop for Browser {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let url = self
                .try_run(async |c| c.current_url().await.map(|u| u.to_string()))
                .unwrap_or_default();
            eprintln!("[browser {}] at failure: url {url}", self.label);
            if let Ok(png) = self.try_run(async |c| c.screenshot().await) {
                let p = self.artifacts.join(format!("FAILED-{}.png", self.label));
                let _ = std::fs::write(&p, png);
                eprintln!(
                    "[browser {}] failure screenshot: {}",
                    self.label,
                    p.display()
                );
            }
            eprintln!(
                "[browser {}] chromedriver log tail:\n{}",
                self.label,
                self.driver.log_tail(15)
            );
        }
        if let Some(c) = self.client.take() {
            let _ = self
                .rt
                .block_on(async { tokio::time::timeout(Duration::from_secs(10), c.close()).await });
        }
        self.driver.kill();
    }
}

impl Browser {
    /// Starts a driver and a headless chromium session (1000×800).
    pub fn open(label: &str, log_dir: &Path, artifacts: &Path) -> Browser {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let driver = Driver::spawn(log_dir, label);
        let caps = json!({
            "browserName": "chrome",
            "unhandledPromptBehavior": "ignore",
            "pageLoadStrategy": "normal",
            "goog:chromeOptions": {
                "binary": chromium_bin(),
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu",
                    "--window-size=1000,800", "--disable-dev-shm-usage",
                    "--no-first-run", "--no-default-browser-check",
                    "--disable-extensions", "--hide-scrollbars",
                    "--disable-background-networking",
                ],
            },
        });
        let caps = match caps {
            Value::Object(m) => m,
            _ => unreachable!(),
        };
        let url = format!("http://127.0.0.1:{}", driver.port);
        let client = rt.block_on(async {
            tokio::time::timeout(
                START_TIMEOUT,
                ClientBuilder::new(HttpConnector::new())
                    .capabilities(caps)
                    .connect(&url),
            )
            .await
        });
        let client = match client {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => panic!(
                "[browser {label}] no session: {e}\nchromedriver log:\n{}",
                driver.log_tail(30)
            ),
            Err(_) => panic!(
                "[browser {label}] no session in {START_TIMEOUT:?}\nchromedriver log:\n{}",
                driver.log_tail(30)
            ),
        };
        let _ = std::fs::create_dir_all(artifacts);
        let b = Browser {
            label: label.into(),
            rt,
            client: Some(client),
            driver,
            base: String::new(),
            artifacts: artifacts.into(),
        };
        b.run("set the window size", async |c| {
            c.set_window_size(1000, 800).await
        });
        b
    }

    /// Runs one WebDriver command, bounded by `CMD_TIMEOUT`.
    fn try_run<T, F>(&self, f: impl FnOnce(Client) -> F) -> Result<T, String>
    where
        F: Future<Output = Result<T, fantoccini::error::CmdError>>,
    {
        let c = self.client.clone().ok_or("no session")?;
        match self
            .rt
            .block_on(async { tokio::time::timeout(CMD_TIMEOUT, f(c)).await })
        {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer in {CMD_TIMEOUT:?}")),
        }
    }

    /// Runs one command; panics naming `what` on failure.
    fn run<T, F>(&self, what: &str, f: impl FnOnce(Client) -> F) -> T
    where
        F: Future<Output = Result<T, fantoccini::error::CmdError>>,
    {
        self.try_run(f)
            .unwrap_or_else(|e| panic!("[browser {}] {what}: {e}", self.label))
    }

    /// Opens `url` (absolute) and waits for the load.
    pub fn goto_url(&self, url: &str) {
        self.run(&format!("open {url}"), async |c| c.goto(url).await);
    }

    /// Opens the node's login link (`?token=`), which sets the cookie and redirects to
    /// `/`; checks the token left the address bar.
    pub fn login(&mut self, web_url: &str) {
        self.goto_url(web_url);
        let now = self.url();
        assert!(
            !now.contains("token="),
            "[browser {}] the login link did not redirect away from the token: {now}",
            self.label
        );
        let base = web_url.split("/?").next().unwrap_or(web_url);
        self.base = base.trim_end_matches('/').to_string();
        assert!(
            now.starts_with(&self.base),
            "[browser {}] login ended at {now}, not under {}",
            self.label,
            self.base
        );
    }

    /// Opens `path` of the app; checks the page has `nav#nav` and no dialog is open.
    pub fn visit(&self, path: &str) {
        let url = format!("{}{path}", self.base);
        self.goto_url(&url);
        self.assert_no_alert(&format!("after opening {path}"));
        assert!(
            self.exists("nav#nav"),
            "[browser {}] {path} has no nav#nav:\n{}",
            self.label,
            self.source_head()
        );
    }

    pub fn url(&self) -> String {
        self.run("read the url", async |c| c.current_url().await)
            .to_string()
    }

    /// The first 3000 characters of the page source (for failure messages).
    pub fn source_head(&self) -> String {
        let s = self
            .try_run(async |c| c.source().await)
            .unwrap_or_else(|e| format!("(no source: {e})"));
        s.chars().take(3000).collect()
    }

    /// Runs `script` (a function body; `arguments[i]` are `args`) in the page.
    pub fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.run(&format!("run script {script:?}"), async |c| {
            c.execute(script, args).await
        })
    }

    /// Whether an element matches `css`.
    pub fn exists(&self, css: &str) -> bool {
        self.js(
            "return document.querySelector(arguments[0]) !== null;",
            vec![json!(css)],
        ) == json!(true)
    }

    /// The `textContent` of the first element matching `css` (None if none).
    pub fn text(&self, css: &str) -> Option<String> {
        self.js(
            "const e = document.querySelector(arguments[0]); return e ? e.textContent : null;",
            vec![json!(css)],
        )
        .as_str()
        .map(str::to_string)
    }

    /// Polls `script` every 50 ms until it returns something other than null / false,
    /// or fails naming `what` after `timeout`.
    pub fn wait_js(&self, what: &str, timeout: Duration, script: &str, args: Vec<Value>) -> Value {
        let start = Instant::now();
        loop {
            let v = self.js(script, args.clone());
            if !v.is_null() && v != json!(false) {
                return v;
            }
            assert!(
                start.elapsed() < timeout,
                "[browser {}] timed out after {timeout:?} waiting for {what}; page:\n{}",
                self.label,
                self.source_head()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for an element matching `css`.
    pub fn wait_for_css(&self, css: &str, timeout: Duration) {
        self.wait_js(
            &format!("an element {css}"),
            timeout,
            "return document.querySelector(arguments[0]) !== null;",
            vec![json!(css)],
        );
    }

    /// Types `text` into the field matching `css` (cleared first), as a user would.
    pub fn fill(&self, css: &str, text: &str) {
        let what = format!("type into {css}");
        let el = self.run(&what, async |c| c.find(Locator::Css(css)).await);
        self.run(&what, async |_| el.clear().await);
        self.run(&what, async |_| el.send_keys(text).await);
    }

    /// Sets the value of the field matching `css` by script (for text with characters
    /// a keyboard cannot type), firing an `input` event.
    pub fn set_value(&self, css: &str, text: &str) {
        let ok = self.js(
            "const e = document.querySelector(arguments[0]); if (!e) return false;
             e.value = arguments[1]; e.dispatchEvent(new Event('input', {bubbles: true}));
             return true;",
            vec![json!(css), json!(text)],
        );
        assert_eq!(ok, json!(true), "[browser {}] no field {css}", self.label);
    }

    /// Clicks the element matching `css` and waits until a new page has loaded (a
    /// marker set in the old page is gone and the new one is complete).
    pub fn click_and_wait_page(&self, css: &str) {
        self.js("window.__glitter_old_page = 1; return true;", vec![]);
        let what = format!("click {css}");
        let el = self.run(&what, async |c| c.find(Locator::Css(css)).await);
        self.run(&what, async |_| el.click().await);
        self.wait_js(
            &format!("the page after clicking {css}"),
            Duration::from_secs(20),
            "return window.__glitter_old_page === undefined && document.readyState === 'complete';",
            vec![],
        );
        self.assert_no_alert(&format!("after clicking {css}"));
    }

    /// The text of an open dialog (alert, confirm, prompt), if any.
    pub fn alert_text(&self) -> Option<String> {
        self.try_run(async |c| c.get_alert_text().await).ok()
    }

    /// Fails if a dialog is open (no post may run `alert`).
    pub fn assert_no_alert(&self, when: &str) {
        if let Some(t) = self.alert_text() {
            panic!("[browser {}] a dialog is open {when}: {t:?}", self.label);
        }
    }

    /// Dismisses an open dialog.
    pub fn dismiss_alert(&self) {
        self.run("dismiss the dialog", async |c| c.dismiss_alert().await);
    }

    /// A PNG of the viewport.
    pub fn png(&self) -> Vec<u8> {
        let png = self.run("screenshot", async |c| c.screenshot().await);
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        png
    }

    /// Saves a PNG of the viewport as `name.png` under the test artifacts directory
    /// and, when `GLITTER_SCREENSHOTS_DIR` is set, there too.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.png();
        let p = self.artifacts.join(format!("{name}.png"));
        std::fs::write(&p, &png).expect("write the screenshot");
        if let Ok(dir) = std::env::var("GLITTER_SCREENSHOTS_DIR") {
            std::fs::create_dir_all(&dir).expect("GLITTER_SCREENSHOTS_DIR");
            std::fs::write(Path::new(&dir).join(format!("{name}.png")), &png)
                .expect("write the screenshot copy");
        }
        p
    }
}
