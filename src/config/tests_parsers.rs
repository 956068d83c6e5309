//! Tests of the small parsers the config is built from: globs, base URLs, windows, reset
//! periods, timestamps and money conversion.

use std::time::Duration;

use super::*;

#[test]
fn glob_matches_star_and_question_mark() {
    let yes = [
        ("claude-*", "claude-sonnet-4-5"),
        ("claude-*", "claude-"),
        ("*", ""),
        ("*", "anything/at/all"),
        ("anthropic/*", "anthropic/claude-opus-4-1"),
        ("openai/gpt-5*", "openai/gpt-5"),
        ("openai/gpt-5*", "openai/gpt-5-mini"),
        ("gpt-?", "gpt-5"),
        ("*-haiku-*", "claude-3-5-haiku-20241022"),
        ("a*b*c", "aXbYbZc"),
        ("a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaab"),
        ("exact", "exact"),
        ("?é?", "aéb"),
        ("é*", "éé"),
        ("**", "x"),
    ];
    for (pattern, text) in yes {
        assert!(glob_match(pattern, text), "{pattern} should match {text}");
    }
    let no = [
        ("claude-*", "claud-sonnet"),
        ("claude-*", "xclaude-sonnet"),
        ("gpt-?", "gpt-55"),
        ("gpt-?", "gpt-"),
        ("exact", "exactly"),
        ("exact", "exac"),
        ("a*b*c", "aXbYbZ"),
        ("a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaa"),
        ("", "x"),
        ("?", "éé"),
    ];
    for (pattern, text) in no {
        assert!(
            !glob_match(pattern, text),
            "{pattern} should not match {text}"
        );
    }
}

#[test]
fn base_url_parses_and_normalises() {
    let url = BaseUrl::parse("https://api.anthropic.com").unwrap();
    assert_eq!(
        url,
        BaseUrl {
            tls: true,
            host: "api.anthropic.com".into(),
            port: 443,
            base_path: String::new()
        }
    );
    assert_eq!(url.origin_key(), "https://api.anthropic.com:443");
    assert_eq!(url.host_header(), "api.anthropic.com");

    let url = BaseUrl::parse("HTTP://LocalHost:8081/openai/v1/").unwrap();
    assert_eq!(
        url,
        BaseUrl {
            tls: false,
            host: "localhost".into(),
            port: 8081,
            base_path: "/openai/v1".into()
        }
    );
    assert_eq!(url.host_header(), "localhost:8081");
    assert_eq!(url.origin_key(), "http://localhost:8081");
    assert_eq!(url.to_string(), "http://localhost:8081/openai/v1");

    let url = BaseUrl::parse("http://[::1]:9000").unwrap();
    assert_eq!((url.host.as_str(), url.port), ("::1", 9000));
    assert_eq!(url.host_header(), "[::1]:9000");
    assert_eq!(url.origin_key(), "http://[::1]:9000");
    let url = BaseUrl::parse("https://[2001:DB8::1]/").unwrap();
    assert_eq!(
        (url.host.as_str(), url.host_header().as_str()),
        ("2001:db8::1", "[2001:db8::1]")
    );

    let url = BaseUrl::parse("https://example.com:443/").unwrap();
    assert_eq!(
        (url.host_header().as_str(), url.base_path.as_str()),
        ("example.com", "")
    );
    assert_eq!(
        BaseUrl::parse("http://10.0.0.1:80").unwrap().host_header(),
        "10.0.0.1"
    );
}

#[test]
fn base_url_rejects_what_it_cannot_use() {
    for bad in [
        "api.anthropic.com",
        "ftp://host",
        "https://",
        "https:///path",
        "https://host:",
        "https://host:65536",
        "https://host:0",
        "https://host:+1",
        "https://host/x?y=1",
        "https://host/#frag",
        "https://user@host",
        "https://ho st",
        "https://host/a b",
        "https://[::1",
        "https://[zz::1]",
        "https://[::1]x",
        "https://host_é",
        &format!("https://{}", "a".repeat(MAX_HOST_LEN + 1)),
    ] {
        assert!(BaseUrl::parse(bad).is_err(), "{bad} should be rejected");
    }
    assert!(BaseUrl::parse(&format!("https://{}", "a".repeat(MAX_HOST_LEN))).is_ok());
}

#[test]
fn windows_parse_with_units_and_limits() {
    assert_eq!(parse_window("1s"), Ok(Duration::from_secs(1)));
    assert_eq!(parse_window("1m"), Ok(Duration::from_secs(60)));
    assert_eq!(parse_window("15m"), Ok(Duration::from_secs(900)));
    assert_eq!(parse_window("1h"), Ok(Duration::from_secs(3_600)));
    assert_eq!(parse_window("1d"), Ok(Duration::from_secs(86_400)));
    assert_eq!(parse_window("366d"), Ok(MAX_RATE_WINDOW));
    for bad in [
        "",
        "m",
        "1",
        "0m",
        "1M",
        "1w",
        "1.5m",
        "-1m",
        "1 m",
        "367d",
        "99999999999999999999s",
    ] {
        assert!(parse_window(bad).is_err(), "{bad} should be rejected");
    }
}

#[test]
fn reset_periods_round_trip_and_are_case_sensitive() {
    for period in ResetPeriod::ALL {
        assert_eq!(ResetPeriod::parse(period.as_str()), Ok(period));
        assert_eq!(period.to_string(), period.as_str());
    }
    assert_eq!(ResetPeriod::parse("1m"), Ok(ResetPeriod::Minute));
    assert_eq!(ResetPeriod::parse("1M"), Ok(ResetPeriod::Month));
    assert!(ResetPeriod::parse("1q").is_err());
    assert!(ResetPeriod::parse("2d").is_err());
    assert_eq!(
        ResetPeriod::FiveMinutes.fixed_length(),
        Some(Duration::from_secs(300))
    );
    assert_eq!(
        ResetPeriod::Week.fixed_length(),
        Some(Duration::from_secs(604_800))
    );
    assert_eq!(ResetPeriod::Month.fixed_length(), None);
    assert_eq!(ResetPeriod::Year.fixed_length(), None);
}

#[test]
fn timestamps_convert_to_unix_seconds() {
    assert_eq!(parse_rfc3339_unix_secs("1970-01-01T00:00:00Z"), Ok(0));
    assert_eq!(
        parse_rfc3339_unix_secs("2000-02-29T12:00:00Z"),
        Ok(951_825_600)
    );
    assert_eq!(
        parse_rfc3339_unix_secs("2024-03-01t00:00:00z"),
        Ok(1_709_251_200)
    );
    assert_eq!(
        parse_rfc3339_unix_secs("2024-03-01 00:00:00.123456Z"),
        Ok(1_709_251_200)
    );
    assert_eq!(
        parse_rfc3339_unix_secs("2024-03-01T02:30:00+02:30"),
        Ok(1_709_251_200)
    );
    assert_eq!(
        parse_rfc3339_unix_secs("2024-02-29T19:00:00-05:00"),
        Ok(1_709_251_200)
    );
    for bad in [
        "",
        "2024-03-01",
        "2024-03-01T00:00:00",
        "2024-03-01T00:00:00+0200",
        "2024-03-01T00:00:00.Z",
        "2023-02-29T00:00:00Z",
        "1900-02-29T00:00:00Z",
        "2024-04-31T00:00:00Z",
        "2024-00-10T00:00:00Z",
        "2024-01-00T00:00:00Z",
        "2024-01-01T24:00:00Z",
        "2024-01-01T00:60:00Z",
        "2024-01-01T00:00:61Z",
        "2024-01-01T00:00:00+24:00",
        "2024-01-01X00:00:00Z",
        "1969-12-31T23:59:59Z",
        "1970-01-01T00:00:00+00:01",
        "2024-01-01T00:00:00Zjunk",
        "２０２４-01-01T00:00:00Z",
    ] {
        assert!(
            parse_rfc3339_unix_secs(bad).is_err(),
            "{bad} should be rejected"
        );
    }
}

#[test]
fn money_converts_to_integers_with_rounding_and_bounds() {
    assert_eq!(usd_to_micro_usd(0.3), Some(300_000));
    assert_eq!(usd_to_micro_usd(25.0), Some(25_000_000));
    assert_eq!(usd_to_micro_usd(0.000_000_4), Some(0));
    assert_eq!(
        usd_to_micro_usd(MAX_BUDGET_USD),
        Some(1_000_000_000_000_000)
    );
    assert_eq!(usd_to_micro_usd(MAX_BUDGET_USD * 1.01), None);
    assert_eq!(usd_to_micro_usd(-0.01), None);
    assert_eq!(usd_to_micro_usd(f64::NAN), None);
    assert_eq!(usd_per_mtok_to_pico_per_token(0.075), Some(75_000));
    assert_eq!(usd_per_mtok_to_pico_per_token(3.75), Some(3_750_000));
    assert_eq!(usd_per_mtok_to_pico_per_token(0.0), Some(0));
    assert_eq!(
        usd_per_mtok_to_pico_per_token(MAX_PRICE_USD_PER_MTOK * 2.0),
        None
    );
    assert_eq!(usd_per_mtok_to_pico_per_token(f64::INFINITY), None);
}
