//! Tests of the request bound: text counted as body bytes, images and documents by their
//! stated caps wherever they sit in a Messages body (and only there), 1-hour cache writes, and
//! bodies cut anywhere.

use super::input_bound::*;

fn bound(body: &str) -> RequestBound {
    request_bound(body.as_bytes(), Some(10))
}

fn image_block(data: &str) -> String {
    format!(
        r#"{{"type":"image","source":{{"type":"base64","media_type":"image/png","data":"{data}"}}}}"#
    )
}

fn body_with(blocks: &str) -> String {
    format!(
        r#"{{"model":"m","max_tokens":10,"messages":[{{"role":"user","content":[{blocks}]}}]}}"#
    )
}

#[test]
fn text_is_bounded_by_the_body_bytes() {
    let body = body_with(r#"{"type":"text","text":"1234567890"}"#);
    let b = bound(&body);
    assert_eq!(b.input_tokens, body.len() as u64 + REQUEST_OVERHEAD_TOKENS);
    assert_eq!(b.max_tokens, Some(10));
    assert!(!b.one_hour_cache_write);
}

#[test]
fn escaped_text_is_never_counted_below_its_utf8_bytes() {
    // 一二三 as \u escapes: 18 body bytes for 9 UTF-8 bytes.
    let text = "\\u4e00\\u4e8c\\u4e09".repeat(100);
    let body = body_with(&format!(r#"{{"type":"text","text":"{text}"}}"#));
    assert!(bound(&body).input_tokens >= 900);
}

#[test]
fn base64_image_data_is_replaced_by_the_per_image_cap() {
    let data = "A".repeat(100_000);
    let body = body_with(&image_block(&data));
    let expected = (body.len() - data.len()) as u64 + IMAGE_TOKENS + REQUEST_OVERHEAD_TOKENS;
    assert_eq!(bound(&body).input_tokens, expected);
    // Inside a tool result too.
    let nested = format!(
        r#"{{"type":"tool_result","tool_use_id":"t","content":[{}]}}"#,
        image_block(&data)
    );
    let body = body_with(&nested);
    let expected = (body.len() - data.len()) as u64 + IMAGE_TOKENS + REQUEST_OVERHEAD_TOKENS;
    assert_eq!(bound(&body).input_tokens, expected);
    // A tiny image still costs the cap.
    let body = body_with(&image_block("AA"));
    assert!(bound(&body).input_tokens >= IMAGE_TOKENS);
}

#[test]
fn image_shaped_json_that_is_text_stays_counted_as_text() {
    let data = "A".repeat(10_000);
    let in_tool_input = format!(
        r#"{{"type":"tool_use","id":"t","name":"x","input":{{"source":{{"type":"base64","media_type":"image/png","data":"{data}"}}}}}}"#
    );
    let system = format!(r#"{{"system":[{}],"messages":[]}}"#, image_block(&data));
    let duplicated = format!(
        r#"{{"type":"image","type":"text","source":{{"type":"base64","media_type":"image/png","data":"{data}"}}}}"#
    );
    let escaped_key = format!(
        r#"{{"type":"image","source":{{"type":"base64","media_type":"image/png","d\u0061ta":"{data}"}}}}"#
    );
    for body in [
        body_with(&in_tool_input),
        system,
        body_with(&duplicated),
        body_with(&escaped_key),
    ] {
        assert!(bound(&body).input_tokens >= body.len() as u64, "{body}");
    }
}

#[test]
fn images_by_url_or_file_cost_the_cap() {
    let body = body_with(
        r#"{"type":"image","source":{"type":"url","url":"https://x/y.png"}},{"type":"image","source":{"type":"file","file_id":"f"}}"#,
    );
    assert_eq!(
        bound(&body).input_tokens,
        body.len() as u64 + 2 * IMAGE_TOKENS + REQUEST_OVERHEAD_TOKENS
    );
}

#[test]
fn pdfs_keep_their_bytes_and_add_a_page_image_per_possible_page() {
    let data = "A".repeat(4 * 1_024); // 3 KiB decoded: 3 pages at most.
    let body = body_with(&format!(
        r#"{{"type":"document","source":{{"type":"base64","media_type":"application/pdf","data":"{data}"}}}}"#
    ));
    assert_eq!(
        bound(&body).input_tokens,
        body.len() as u64 + 3 * PDF_PAGE_IMAGE_TOKENS + REQUEST_OVERHEAD_TOKENS
    );
    let by_url =
        body_with(r#"{"type":"document","source":{"type":"url","url":"https://x/y.pdf"}}"#);
    assert_eq!(
        bound(&by_url).input_tokens,
        by_url.len() as u64 + UNSEEN_DOCUMENT_TOKENS + REQUEST_OVERHEAD_TOKENS
    );
}

#[test]
fn pdf_pages_are_bounded_by_size_and_the_page_limit() {
    assert_eq!(pdf_pages(0), 1);
    assert_eq!(pdf_pages(4), 1);
    // 100 pages' worth of bytes: exactly the limit, and one more page's worth stays at it.
    let at_limit = MAX_PDF_PAGES * PDF_MIN_PAGE_BYTES / 3 * 4;
    assert_eq!(pdf_pages(at_limit), MAX_PDF_PAGES);
    assert_eq!(pdf_pages(at_limit + PDF_MIN_PAGE_BYTES * 2), MAX_PDF_PAGES);
    assert_eq!(
        pdf_pages(at_limit - PDF_MIN_PAGE_BYTES * 2),
        MAX_PDF_PAGES - 1
    );
}

#[test]
fn provider_defined_tools_add_their_hidden_definition() {
    let body = r#"{"tools":[{"type":"bash_20250124","name":"bash"},{"name":"f","input_schema":{"type":"object"}}],"messages":[]}"#;
    assert_eq!(
        bound(body).input_tokens,
        body.len() as u64 + TYPED_TOOL_TOKENS + REQUEST_OVERHEAD_TOKENS
    );
}

#[test]
fn a_one_hour_ttl_or_an_unreadable_key_prices_input_at_the_one_hour_rate() {
    let block = |ttl: &str| {
        body_with(&format!(
            r#"{{"type":"text","text":"x","cache_control":{{"type":"ephemeral"{ttl}}}}}"#
        ))
    };
    assert!(!bound(&block("")).one_hour_cache_write);
    assert!(!bound(&block(r#","ttl":"5m""#)).one_hour_cache_write);
    assert!(bound(&block(r#","ttl":"1h""#)).one_hour_cache_write);
    assert!(bound(&block(r#","t\u0074l":"1h""#)).one_hour_cache_write);
}

#[test]
fn deep_nesting_and_cut_bodies_never_panic_and_count_every_byte() {
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    assert!(bound(&deep).input_tokens >= deep.len() as u64);
    let body = body_with(&format!(
        "{},{}",
        image_block("QUFB"),
        r#"{"type":"text","text":"a\"b\\"}"#
    ));
    for cut in 0..=body.len() {
        let prefix = &body.as_bytes()[..cut];
        let b = request_bound(prefix, None);
        assert!(b.input_tokens + 4 >= cut as u64, "cut at {cut}");
    }
}
