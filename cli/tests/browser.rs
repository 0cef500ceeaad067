//! The upload page in a real headless Chromium over WebDriver (Debian's `chromium` and
//! `chromium-driver`), against the real `audioproc serve`: sign up, upload a generated 30 s WAV
//! through the page, watch it reach `done` by itself, read the figures, play it, download it and
//! re-measure it at the target; a second user does not see it. In the fleet mode (S3 on moto,
//! PostgreSQL), the page sends a big file to S3 in parts and plays the result from S3.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use audioproc_engine::{AnalyzeOptions, analyze_path};
use audioproc_testdata::harness::chromedriver::{ChromeDriver, chrome_args};
use audioproc_testdata::harness::{header, http_request};
use audioproc_testdata::programme_wav;
use common::client::request;
use common::fleet::Fleet;
use common::server::Server;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

const LONG: Duration = Duration::from_secs(120);

async fn browser(driver: &ChromeDriver) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), json!({ "args": chrome_args() }));
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector).capabilities(caps).connect(&driver.url).await.unwrap()
}

async fn sign_up(c: &Client, email: &str) {
    let (e, p) = ("#signup-email", "#signup-password");
    c.wait().at_most(LONG).for_element(Locator::Css(e)).await.unwrap();
    for (field, text) in [(e, email), (p, "a long enough password")] {
        let input = c.find(Locator::Css(field)).await.unwrap();
        input.clear().await.unwrap();
        input.send_keys(text).await.unwrap();
    }
    c.find(Locator::Css("#signup-submit")).await.unwrap().click().await.unwrap();
    let who = c.wait().at_most(LONG).for_element(Locator::Css("#whoami")).await.unwrap();
    for _ in 0..100 {
        if who.text().await.unwrap() == email {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let error = c.find(Locator::Css("#auth-error")).await.unwrap().text().await;
    panic!("not signed in as {email}: {:?}; the page says {error:?}", who.text().await);
}

/// The number in `data-value` of the figure `field` of the track row `row`.
async fn figure(c: &Client, row: &str, field: &str) -> f64 {
    let e = c.find(Locator::Css(&format!("{row} [data-field=\"{field}\"]"))).await.unwrap();
    let v = e.attr("data-value").await.unwrap().unwrap_or_default();
    v.parse().unwrap_or_else(|_| panic!("{field}: {v:?}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_person_uploads_plays_and_downloads_through_the_page() {
    let server = Server::start(None, &[]);
    let driver = ChromeDriver::start();
    let c = browser(&driver).await;
    let site = format!("http://{}/", server.addr);
    c.goto(&site).await.unwrap();
    sign_up(&c, "ann@example.org").await;

    // Upload through the file picker (as a drop does), with the page's default preset (EBU).
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("Morning Song.wav");
    std::fs::write(&wav, programme_wav(30.0, 5)).unwrap();
    let input = c.find(Locator::Css("#file-input")).await.unwrap();
    input.send_keys(wav.to_str().unwrap()).await.unwrap();

    // The list moves on by itself to done.
    let done = "li.track[data-status=\"done\"]";
    let row = c.wait().at_most(LONG).for_element(Locator::Css(done)).await.unwrap();
    let id = row.attr("data-track-id").await.unwrap().unwrap();
    assert_eq!(
        c.find(Locator::Css(&format!("{done} .filename"))).await.unwrap().text().await.unwrap(),
        "Morning Song.wav"
    );
    let out = figure(&c, done, "output-integrated").await;
    assert!((out + 23.0).abs() <= 0.2, "output {out} LUFS");
    let gain = figure(&c, done, "gain").await;
    let input_lufs = figure(&c, done, "input-integrated").await;
    assert!((input_lufs + gain - out).abs() < 0.3, "{input_lufs} + {gain} ≈ {out}");
    let verdict = c.find(Locator::Css(&format!("{done} [data-field=\"target-met\"]"))).await.unwrap();
    assert_eq!(verdict.text().await.unwrap(), "Target met");

    // The loudness chart of the report: the input's and the output's curves, drawn.
    for kind in ["input", "output"] {
        let path = c.find(Locator::Css(&format!("{done} svg.curve path.line-{kind}"))).await.unwrap();
        let d = path.attr("d").await.unwrap().unwrap_or_default();
        assert!(d.starts_with('M') && d.matches('L').count() > 100, "{kind} curve path: {d:?}");
    }

    // Play: the player loads the output, 30 s long.
    let duration = c
        .execute(
            "const a = document.querySelector(arguments[0]);
             return new Promise((ok, fail) => {
               const done = () => ok(a.duration);
               if (a.readyState >= 1) return done();
               a.addEventListener('loadedmetadata', done, { once: true });
               a.addEventListener('error', () => fail(String(a.error && a.error.message)), { once: true });
               a.load();
             });",
            vec![json!(format!("{done} audio"))],
        )
        .await
        .unwrap();
    let duration = duration.as_f64().unwrap();
    assert!((duration - 30.0).abs() < 0.05, "audio.duration {duration}");

    // Download with the browser's session (the link the page shows), and re-measure.
    let href = c.find(Locator::Css(&format!("{done} a.download"))).await.unwrap().attr("href").await.unwrap().unwrap();
    let cookie = c.get_named_cookie("audioproc_session").await.unwrap();
    let cookie = format!("audioproc_session={}", cookie.value());
    let path = href.strip_prefix(&site[..site.len() - 1]).unwrap_or(&href).to_owned();
    let (status, headers, _) = http_request(&server.addr, "GET", &path, &[("cookie", &cookie)], b"");
    assert_eq!(status, 302);
    let (status, _, bytes) = http_request(&server.addr, "GET", header(&headers, "location").unwrap(), &[], b"");
    assert_eq!(status, 200);
    let f = dir.path().join("downloaded.flac");
    std::fs::write(&f, bytes).unwrap();
    let measured = analyze_path(&f, &AnalyzeOptions::default()).unwrap().loudness.integrated_lufs.unwrap();
    assert!((measured + 23.0).abs() <= 0.1, "downloaded file at {measured} LUFS");

    // A second person sees none of it, in the page or by id.
    c.find(Locator::Css("#signout")).await.unwrap().click().await.unwrap();
    sign_up(&c, "bob@example.org").await;
    c.wait().at_most(LONG).for_element(Locator::Css("#no-tracks")).await.unwrap();
    assert!(c.find_all(Locator::Css("li.track")).await.unwrap().is_empty());
    let cookie = format!("audioproc_session={}", c.get_named_cookie("audioproc_session").await.unwrap().value());
    let (status, _, _) =
        http_request(&server.addr, "GET", &format!("/api/v1/tracks/{id}"), &[("cookie", &cookie)], b"");
    assert_eq!(status, 404);
    c.close().await.unwrap();
}

/// The bucket's CORS rule for the page's origin, as the deployment sets it.
fn allow_page_uploads(f: &Fleet, origin: &str) {
    use aws_sdk_s3::types::{CorsConfiguration, CorsRule};
    let rule = CorsRule::builder()
        .allowed_origins(origin)
        .allowed_methods("PUT")
        .allowed_methods("GET")
        .allowed_headers("content-type")
        .expose_headers("ETag")
        .max_age_seconds(600)
        .build()
        .unwrap();
    let cors = CorsConfiguration::builder().cors_rules(rule).build().unwrap();
    f.s3.rt.block_on(f.s3.client.put_bucket_cors().bucket(&f.bucket).cors_configuration(cors).send()).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn in_the_fleet_mode_the_page_sends_big_files_to_s3_in_parts_and_plays_from_s3() {
    // The harness's S3 client blocks: off the async threads.
    use tokio::task::block_in_place as blocking;
    let f = blocking(|| Fleet::new("browser-fleet"));
    let server = f.instance(&["--multipart-threshold", "6291456"]);
    let site = format!("http://{}/", server.addr);
    blocking(|| allow_page_uploads(&f, &site[..site.len() - 1]));
    let driver = ChromeDriver::start();
    let c = browser(&driver).await;
    c.goto(&site).await.unwrap();
    sign_up(&c, "ann@example.org").await;

    // 40 s of WAV, 7 MB: two parts of 5 MiB, each PUT by the page straight to S3.
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("Long Take.wav");
    let bytes = programme_wav(40.0, 6);
    std::fs::write(&wav, &bytes).unwrap();
    c.find(Locator::Css("#file-input")).await.unwrap().send_keys(wav.to_str().unwrap()).await.unwrap();
    let done = "li.track[data-status=\"done\"]";
    let row = c.wait().at_most(LONG).for_element(Locator::Css(done)).await.unwrap();
    let id = row.attr("data-track-id").await.unwrap().unwrap();
    blocking(|| {
        let input = f.keys_under("incoming/").into_iter().find(|k| k.contains(&id)).unwrap();
        assert_eq!(f.s3.get(&f.bucket, &input).unwrap(), bytes, "the parts arrived whole and in order");
        assert_eq!(f.s3.multipart_uploads(&f.bucket), 0);
    });
    let out = figure(&c, done, "output-integrated").await;
    assert!((out + 23.0).abs() <= 0.2, "output {out} LUFS");

    // The player streams the output from S3 (a presigned GET the page's policy allows).
    let duration = c
        .execute(
            "const a = document.querySelector(arguments[0]);
             return new Promise((ok, fail) => {
               const done = () => ok(a.duration);
               if (a.readyState >= 1) return done();
               a.addEventListener('loadedmetadata', done, { once: true });
               a.addEventListener('error', () => fail(String(a.error && a.error.message)), { once: true });
               a.load();
             });",
            vec![json!(format!("{done} audio"))],
        )
        .await
        .unwrap();
    assert!((duration.as_f64().unwrap() - 40.0).abs() < 0.05, "audio.duration {duration}");

    // The download link leads to S3; the file re-measures at the target.
    let cookie = format!("audioproc_session={}", c.get_named_cookie("audioproc_session").await.unwrap().value());
    let (status, headers, _) =
        http_request(&server.addr, "GET", &format!("/api/v1/tracks/{id}/download"), &[("cookie", &cookie)], b"");
    assert_eq!(status, 302);
    let (status, _, out) = blocking(|| request(&server, "GET", header(&headers, "location").unwrap(), &[], b""));
    assert_eq!(status, 200);
    let file = dir.path().join("downloaded.flac");
    std::fs::write(&file, out).unwrap();
    let measured = analyze_path(&file, &AnalyzeOptions::default()).unwrap().loudness.integrated_lufs.unwrap();
    assert!((measured + 23.0).abs() <= 0.1, "downloaded file at {measured} LUFS");
    c.close().await.unwrap();
    blocking(|| drop(f));
}
