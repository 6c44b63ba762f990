//! Uploads and imports that must not hurt: photos over the size limit get the limit as
//! their answer, file names lose control and direction characters but keep their
//! extension, spreadsheets that unpack into huge ones (zip bombs) are refused without being
//! held in memory, and the sandbox provider answers a burst of parallel payments and
//! refunds without a 5xx of its own.

use crate::common;
use axum::body::Body;
use http::{Request, StatusCode};
use std::io::Write;
use tower::ServiceExt;

const PNG: &[u8] =
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

/// A multipart body with one `file` field.
fn multipart(field: &str, file_name: &str, content: &[u8]) -> Vec<u8> {
    let mut body = format!(
        "--b\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{file_name}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(content);
    body.extend_from_slice(b"\r\n--b--\r\n");
    body
}

fn upload(path: &str, cookie: &str, body: Vec<u8>) -> Request<Body> {
    Request::post(path)
        .header(http::header::COOKIE, cookie)
        .header(
            http::header::CONTENT_TYPE,
            "multipart/form-data; boundary=b",
        )
        .body(Body::from(body))
        .expect("request")
}

async fn count(app: &common::TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(app.pool())
        .await
        .expect("count")
}

/// The first order that is not a draft.
async fn first_order(app: &common::TestApp) -> i64 {
    sqlx::query_scalar("select order_id from orders where is_draft = 0 order by order_id limit 1")
        .fetch_one(app.pool())
        .await
        .unwrap()
}

fn stored_files(app: &common::TestApp) -> usize {
    std::fs::read_dir(app.data_dir().join("files"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_photo_over_the_limit_is_answered_with_the_size_limit_and_nothing_is_kept() {
    let app = common::spawn().await;
    let resident = app.resident_cookie("+79000000001").await;
    let mut photo = PNG.to_vec();
    photo.resize(25 * 1024 * 1024, 0);
    for (path, limit) in [
        ("/uploads", suz::requests::photos::MAX_PHOTO_BYTES),
        ("/api/chat/photos", suz::chat::photos::MAX_PHOTO_BYTES),
    ] {
        let reply = app
            .send(upload(
                path,
                &resident,
                multipart("file", "кухня.png", &photo),
            ))
            .await;
        assert!(
            matches!(
                reply.status,
                StatusCode::UNPROCESSABLE_ENTITY | StatusCode::PAYLOAD_TOO_LARGE
            ),
            "{path}: {} {}",
            reply.status,
            reply.body
        );
        let limit_text = format!("больше {} МБ", limit / (1024 * 1024));
        assert!(reply.body.contains(&limit_text), "{path}: {}", reply.body);
    }
    assert_eq!(count(&app, "select count(*) from uploads").await, 0);
    assert_eq!(count(&app, "select count(*) from message_photos").await, 0);
    assert_eq!(stored_files(&app), 0);
}

#[tokio::test]
async fn uploaded_names_lose_direction_characters_and_keep_their_extension() {
    let app = common::spawn().await;
    let resident = app.resident_cookie("+79000000001").await;
    // «счёт<U+202E>gnp.exe» would show as «счётexe.png»; a 300-letter name would lose «.png».
    let long = format!("{}\u{202E}{}.png", "счёт", "я".repeat(300));
    let reply = app
        .send(upload("/uploads", &resident, multipart("file", &long, PNG)))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let stored: String = sqlx::query_scalar("select file_name from uploads")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert!(stored.ends_with(".png"), "{stored}");
    assert!(stored.starts_with("счётя"), "{stored}");
    assert!(!stored.contains('\u{202E}'));
    assert_eq!(stored.chars().count(), suz::text::MAX_FILE_NAME_CHARS);
    // An order file: the same cleaning.
    let staff = app.staff_cookie("dispatcher@demo.ru").await;
    let order = first_order(&app).await;
    let reply = app
        .send(upload(
            &format!("/staff/orders/{order}/files"),
            &staff,
            multipart("files", "акт\u{2066}\u{202E}fdp.txt", b"text"),
        ))
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let attached: Vec<String> = sqlx::query_scalar("select file_name from attachments")
        .fetch_all(app.pool())
        .await
        .unwrap();
    assert_eq!(attached, vec!["актfdp.txt".to_owned()]);
}

// ---- Spreadsheets -------------------------------------------------------------------

const MAIN_NS: &str = "http://schemas.openxmlformats.org/spreadsheetml/2006/main";
const REL_NS: &str = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";

/// A one-sheet .xlsx written part by part: `rows` of the sheet (as `<row>` elements) and a
/// shared string table whose text is `repeat` times `piece` (streamed, never built whole).
fn xlsx(rows: &str, unique_count: &str, piece: &str, repeat: usize) -> Vec<u8> {
    use zip::write::SimpleFileOptions;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let mut part = |name: &str, text: &str| {
        zip.start_file(name, options).unwrap();
        zip.write_all(text.as_bytes()).unwrap();
    };
    part(
        "[Content_Types].xml",
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">\
         <Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/>\
         <Default Extension=\"xml\" ContentType=\"application/xml\"/>\
         <Override PartName=\"/xl/workbook.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml\"/>\
         <Override PartName=\"/xl/worksheets/sheet1.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml\"/>\
         <Override PartName=\"/xl/sharedStrings.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml\"/></Types>",
    );
    part(
        "_rels/.rels",
        &format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">\
         <Relationship Id=\"rId1\" Type=\"{REL_NS}/officeDocument\" Target=\"xl/workbook.xml\"/></Relationships>"),
    );
    part(
        "xl/workbook.xml",
        &format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><workbook xmlns=\"{MAIN_NS}\" xmlns:r=\"{REL_NS}\">\
         <sheets><sheet name=\"Лист1\" sheetId=\"1\" r:id=\"rId1\"/></sheets></workbook>"),
    );
    part(
        "xl/_rels/workbook.xml.rels",
        &format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">\
         <Relationship Id=\"rId1\" Type=\"{REL_NS}/worksheet\" Target=\"worksheets/sheet1.xml\"/>\
         <Relationship Id=\"rId2\" Type=\"{REL_NS}/sharedStrings\" Target=\"sharedStrings.xml\"/></Relationships>"),
    );
    part(
        "xl/worksheets/sheet1.xml",
        &format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><worksheet xmlns=\"{MAIN_NS}\"><sheetData>{rows}</sheetData></worksheet>"),
    );
    zip.start_file("xl/sharedStrings.xml", options).unwrap();
    write!(
        zip,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><sst xmlns=\"{MAIN_NS}\" count=\"1\" uniqueCount=\"{unique_count}\"><si><t>"
    )
    .unwrap();
    let chunk = piece.repeat((1 << 20) / piece.len().max(1));
    let mut left = repeat * piece.len();
    while left > 0 {
        let n = left.min(chunk.len());
        zip.write_all(&chunk.as_bytes()[..n]).unwrap();
        left -= n;
    }
    zip.write_all(b"</t></si><si><t>+79005550001</t></si></sst>")
        .unwrap();
    zip.finish().unwrap().into_inner()
}

/// The residents' header row and one resident, the phone taken from the shared strings.
const ONE_RESIDENT: &str = "<row r=\"1\"><c r=\"A1\" t=\"inlineStr\"><is><t>Телефон</t></is></c></row>\
    <row r=\"2\"><c r=\"A2\" t=\"s\"><v>1</v></c><c r=\"B2\" t=\"inlineStr\"><is><t>Новиков Пётр</t></is></c>\
    <c r=\"D2\" t=\"inlineStr\"><is><t>ул. Мира, 1, кв. 2</t></is></c></row>";

/// The same archive, with every declared unpacked size replaced by `size` (the data and
/// checksums untouched): a header that lies.
fn with_declared_sizes(mut bytes: Vec<u8>, size: u32) -> Vec<u8> {
    let u16_at = |b: &[u8], i: usize| u16::from_le_bytes([b[i], b[i + 1]]) as usize;
    let u32_at = |b: &[u8], i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap()) as usize;
    let mut at = 0;
    while bytes[at..].starts_with(b"PK\x03\x04") {
        bytes[at + 22..at + 26].copy_from_slice(&size.to_le_bytes());
        at += 30 + u16_at(&bytes, at + 26) + u16_at(&bytes, at + 28) + u32_at(&bytes, at + 18);
    }
    while bytes[at..].starts_with(b"PK\x01\x02") {
        bytes[at + 24..at + 28].copy_from_slice(&size.to_le_bytes());
        at += 46 + u16_at(&bytes, at + 28) + u16_at(&bytes, at + 30) + u16_at(&bytes, at + 32);
    }
    assert!(
        bytes[at..].starts_with(b"PK\x05\x06"),
        "walked the whole archive"
    );
    bytes
}

fn refusal(outcome: suz::error::AppResult<Vec<Vec<String>>>) -> String {
    match outcome {
        Err(suz::error::AppError::Validation(m)) => m,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_hand_built_workbook_reads_and_bombs_made_the_same_way_are_refused() {
    use suz::admin::files::rows_of;
    // The builder makes a real workbook (so the refusals below are about size).
    let rows = rows_of("люди.xlsx", xlsx(ONE_RESIDENT, "2", "Телефон", 1)).unwrap();
    assert_eq!(rows[1][0], "+79005550001");
    assert_eq!(rows[1][3], "ул. Мира, 1, кв. 2");
    // 100 MB in one shared string, packed into about 100 KB.
    let bomb = xlsx(ONE_RESIDENT, "2", "A", 100 << 20);
    assert!(bomb.len() < 400 * 1024, "{}", bomb.len());
    assert!(refusal(rows_of("люди.xlsx", bomb.clone())).contains("слишком много данных"));
    // The same bomb whose headers claim 1 KB per file: caught while reading.
    refusal(rows_of("люди.xlsx", with_declared_sizes(bomb, 1024)));
    // A shared string table announcing four billion strings (calamine would reserve
    // 96 GB for them up front).
    let announced = xlsx(ONE_RESIDENT, "4000000000", "Телефон", 1);
    assert!(refusal(rows_of("люди.xlsx", announced)).contains("слишком много данных"));
    // One cell at A1 and one at XFD1048576: a grid of 17 billion cells if read whole.
    let corners = "<row r=\"1\"><c r=\"A1\" t=\"s\"><v>1</v></c></row>\
        <row r=\"1048576\"><c r=\"XFD1048576\" t=\"s\"><v>1</v></c></row>";
    assert!(refusal(rows_of("люди.xlsx", xlsx(corners, "2", "x", 1))).contains("строк"));
    // A cell longer than any field.
    let rows_with_long_cell = "<row r=\"1\"><c r=\"B1\" t=\"s\"><v>0</v></c></row>";
    assert!(refusal(rows_of(
        "люди.xlsx",
        xlsx(rows_with_long_cell, "2", "я", 5_000)
    ))
    .contains("В ячейке B1 больше"));
}

#[test]
fn csv_imports_are_bounded_in_rows_line_length_and_cells() {
    use suz::admin::files::{limits, rows_of};
    let many = "+79005550001;Иванов;;ул. Мира, 1\n".repeat(limits::MAX_ROWS + 2);
    assert!(refusal(rows_of("люди.csv", many.into_bytes())).contains("строк"));
    let wide = format!("Телефон\n{}\n", "x".repeat(limits::MAX_LINE_BYTES + 1));
    assert!(refusal(rows_of("люди.csv", wide.into_bytes())).contains("Строка 2"));
    let columns = format!("Телефон\n{}\n", ";".repeat(limits::MAX_COLUMNS));
    assert!(refusal(rows_of("люди.csv", columns.into_bytes())).contains("столбцов"));
    let fine = "Телефон\n+79005550001;Иванов Иван;;ул. Мира, 1\n";
    assert_eq!(
        rows_of("люди.csv", fine.as_bytes().to_vec()).unwrap().len(),
        2
    );
}

#[tokio::test]
async fn a_zip_bomb_import_is_refused_and_changes_nothing() {
    let app = common::spawn().await;
    let admin = app.staff_cookie("admin@demo.ru").await;
    let residents = count(&app, "select count(*) from residents").await;
    let prices = count(&app, "select count(*) from price_items").await;
    let bomb = xlsx(ONE_RESIDENT, "2", "A", 100 << 20);
    for path in [
        "/staff/admin/residents/import",
        "/staff/admin/entities/1/prices/import",
    ] {
        let reply = app
            .send(upload(path, &admin, multipart("file", "bomb.xlsx", &bomb)))
            .await;
        assert_eq!(
            reply.status,
            StatusCode::SEE_OTHER,
            "{path}: {}",
            reply.body
        );
        let to = reply.location().unwrap_or_default();
        assert!(to.contains("import_error="), "{path}: {to}");
        assert!(!to.contains("import="), "{path}: no report was made: {to}");
    }
    assert_eq!(
        count(&app, "select count(*) from residents").await,
        residents
    );
    assert_eq!(
        count(&app, "select count(*) from price_items").await,
        prices
    );
    assert_eq!(count(&app, "select count(*) from admin_imports").await, 0);
}

/// Peak memory of this process in KiB, after resetting the peak (Linux `clear_refs`).
fn reset_and_read_peak() -> Option<u64> {
    std::fs::write("/proc/self/clear_refs", "5").ok()?;
    peak_kib()
}

fn peak_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs in a process of its own (started by the test below), so that no other test's
/// memory counts: reads the bombs and prints how far the peak rose.
#[test]
#[ignore = "started in its own process by a_zip_bomb_is_refused_within_a_few_tens_of_mb"]
fn bomb_memory_probe() {
    if std::env::var("SUZ_BOMB_PROBE").is_err() {
        return;
    }
    let bomb = xlsx(ONE_RESIDENT, "2", "A", 100 << 20);
    let liar = with_declared_sizes(bomb.clone(), 1024);
    let Some(before) = reset_and_read_peak() else {
        println!("probe: no peak");
        return;
    };
    assert!(suz::admin::files::rows_of("a.xlsx", bomb).is_err());
    assert!(suz::admin::files::rows_of("a.xlsx", liar).is_err());
    let after = peak_kib().unwrap_or(before);
    println!("probe: peak rose by {} KiB", after.saturating_sub(before));
}

#[test]
fn a_zip_bomb_is_refused_within_a_few_tens_of_mb() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "uploads_imports::bomb_memory_probe",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SUZ_BOMB_PROBE", "1")
        .output()
        .expect("the probe runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    if stdout.contains("probe: no peak") {
        eprintln!("no /proc/self/clear_refs here: memory not measured");
        return;
    }
    let rose: u64 = stdout
        .split("peak rose by ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no figure in: {stdout}"));
    assert!(
        rose < 32 * 1024,
        "reading the bombs raised the peak by {rose} KiB"
    );
}

// ---- The sandbox provider under a burst ---------------------------------------------

async fn sandbox_call(
    router: axum::Router,
    secret: String,
    path: &str,
    json: serde_json::Value,
) -> (StatusCode, serde_json::Value) {
    let req = Request::post(format!("/sandbox/api/{path}"))
        .header(http::header::AUTHORIZATION, format!("Bearer {secret}"))
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Body::from(json.to_string()))
        .unwrap();
    let res = router.oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = http_body_util::BodyExt::collect(res.into_body())
        .await
        .unwrap()
        .to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

/// Fires all calls at once (each on its own task) and returns their answers in order.
async fn burst(
    app: &common::TestApp,
    path: &'static str,
    bodies: Vec<serde_json::Value>,
) -> Vec<(StatusCode, serde_json::Value)> {
    let secret = app.state.sandbox.as_ref().expect("sandbox").secret.clone();
    let tasks: Vec<_> = bodies
        .into_iter()
        .map(|b| tokio::spawn(sandbox_call(app.router.clone(), secret.clone(), path, b)))
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_sandbox_answers_a_burst_of_payments_and_refunds_without_a_5xx() {
    let app = common::spawn().await;
    sqlx::query("insert into sandbox_cards (token, mask, number_last4, created_at) values ('card_burst', '•••• 4242', '4242', 0)")
        .execute(app.pool())
        .await
        .unwrap();
    // 40 payments with a saved card (paid at once), and 10 retries of one of them.
    let payment = |key: String| {
        serde_json::json!({
            "amount": 30_000, "description": "Услуга", "idempotency_key": key,
            "return_url": "http://127.0.0.1/back", "card_token": "card_burst", "save_card": false,
        })
    };
    let mut bodies: Vec<_> = (0..40).map(|i| payment(format!("pay-{i}"))).collect();
    bodies.extend((0..10).map(|_| payment("pay-0".into())));
    let paid = burst(&app, "payments", bodies).await;
    for (status, body) in &paid {
        assert_eq!(*status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "succeeded", "{body}");
    }
    let first = paid[0].1["id"].clone();
    assert!(paid[40..].iter().all(|(_, b)| b["id"] == first));
    assert_eq!(
        count(&app, "select count(*) from sandbox_payments").await,
        40
    );
    let ids: Vec<String> = paid[..40]
        .iter()
        .map(|(_, b)| b["id"].as_str().unwrap().to_owned())
        .collect();
    // Refunds: two partial ones per payment, each sent twice with its key, and on the
    // first payment ten more of 40 % each, of which only two fit.
    let refund = |payment: &str, amount: i64, key: String| serde_json::json!({ "payment_id": payment, "amount": amount, "idempotency_key": key });
    let mut bodies = Vec::new();
    for (i, id) in ids.iter().enumerate().skip(1) {
        for part in 0..2 {
            for _ in 0..2 {
                bodies.push(refund(id, 10_000, format!("rfd-{i}-{part}")));
            }
        }
    }
    let plain = bodies.len();
    bodies.extend((0..10).map(|k| refund(&ids[0], 12_000, format!("over-{k}"))));
    let answers = burst(&app, "refunds", bodies).await;
    for (status, body) in &answers {
        assert!(!status.is_server_error(), "{status} {body}");
    }
    assert!(answers[..plain].iter().all(|(s, _)| *s == StatusCode::OK));
    for pair in answers[..plain].chunks(2) {
        assert_eq!(pair[0].1["id"], pair[1].1["id"], "one refund per key");
    }
    let fitted = answers[plain..]
        .iter()
        .filter(|(s, _)| *s == StatusCode::OK)
        .count();
    assert_eq!(fitted, 2, "only two refunds of 40 % fit in one payment");
    assert!(answers[plain..]
        .iter()
        .all(|(s, _)| matches!(*s, StatusCode::OK | StatusCode::UNPROCESSABLE_ENTITY)));
    let over: i64 = count(
        &app,
        "select count(*) from (select p.id from sandbox_payments p join sandbox_refunds r on r.payment_id = p.id \
         group by p.id having sum(r.amount_kopecks) > max(p.amount_kopecks))",
    )
    .await;
    assert_eq!(over, 0, "no payment refunded beyond what was paid");
    assert_eq!(
        count(&app, "select count(*) from sandbox_refunds").await,
        39 * 2 + 2
    );
}

// ---- Free texts ---------------------------------------------------------------------

#[tokio::test]
async fn texts_with_direction_or_control_characters_are_refused_and_not_stored() {
    let app = common::spawn().await;
    let staff = app.staff_cookie("dispatcher@demo.ru").await;
    let order = first_order(&app).await;
    let messages = count(&app, "select count(*) from messages").await;
    let comments = count(&app, "select count(*) from order_comments").await;
    // «Оплачено 10000 ₽» shown, «₽ 00001 онечалпО» typed: a right-to-left override.
    let body = serde_json::json!({
        "order_id": order, "body": "Оплачено \u{202E}00001", "key": "rlo", "photos": [],
    });
    let reply = app
        .call_json("send_order_message", &body.to_string(), &staff)
        .await;
    assert!(reply.body.contains("Validation"), "{}", reply.body);
    assert!(reply.body.contains("U+202E"), "{}", reply.body);
    let reply = app
        .call(
            "add_order_comment",
            &[
                ("order_id", &order.to_string()),
                ("body", "скрыто\u{0}текст"),
            ],
            Some(&staff),
        )
        .await;
    assert!(reply.body.contains("U+0000"), "{}", reply.body);
    assert_eq!(count(&app, "select count(*) from messages").await, messages);
    assert_eq!(
        count(&app, "select count(*) from order_comments").await,
        comments
    );
    // Line breaks stay allowed.
    let body = serde_json::json!({
        "order_id": order, "body": "Добрый день!\nБудем в 10:00", "key": "ok", "photos": [],
    });
    let reply = app
        .call_json("send_order_message", &body.to_string(), &staff)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    // Names in administration and ratings use the same check.
    let named = suz::admin::rules::entity_errors("ООО «\u{202E}акшамоР»", "partner", "", "");
    assert_eq!(named.len(), 1, "{named:?}");
    assert!(suz::admin::rules::role_name_errors("Диспетчер\u{2067}").len() == 1);
    assert!(suz::requests::rules::rating_error(
        suz::orders::status::OrderStatus::Done,
        5,
        "Отлично\u{202E}"
    )
    .is_some());
}
