use super::*;
use crate::config::Config;

fn load(toml: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let env = move |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    Config::from_toml_str_with_env(toml, &env)
}

const TWO: &str = "[[providers]]\nname = \"a\"\nkind = \"anthropic\"\n\
    base_url = \"https://api.example.com\"\n\
    [[providers]]\nname = \"b\"\nkind = \"anthropic\"\nbase_url = \"http://10.0.0.7:8000\"\n";

fn proxies(config: &Config) -> Vec<Option<String>> {
    config
        .providers
        .iter()
        .map(|p| p.egress_proxy.as_ref().map(EgressProxy::label))
        .collect()
}

#[test]
fn no_setting_and_no_environment_is_direct() {
    let config = load(TWO, &[]).unwrap();
    assert_eq!(proxies(&config), [None, None]);
}

#[test]
fn the_server_setting_applies_to_every_provider_unless_one_says_none() {
    let toml =
        format!("[server]\negress_proxy = \"http://proxy:3128\"\n{TWO}egress_proxy = \"none\"\n");
    let config = load(&toml, &[("HTTPS_PROXY", "http://other:1")]).unwrap();
    assert_eq!(proxies(&config), [Some("proxy:3128".into()), None]);
}

#[test]
fn the_environment_is_read_per_scheme_lowercase_first() {
    let config = load(
        TWO,
        &[
            ("https_proxy", "http://low:1"),
            ("HTTPS_PROXY", "http://up:2"),
            ("HTTP_PROXY", "http://plain:3"),
        ],
    )
    .unwrap();
    assert_eq!(
        proxies(&config),
        [Some("low:1".into()), Some("plain:3".into())]
    );
}

#[test]
fn no_proxy_exempts_hosts_and_domains() {
    let config = load(
        TWO,
        &[
            ("HTTPS_PROXY", "http://p:1"),
            ("HTTP_PROXY", "http://p:1"),
            ("NO_PROXY", "example.com, 10.0.0.7"),
        ],
    )
    .unwrap();
    assert_eq!(proxies(&config), [None, None]);
    assert!(no_proxy_matches("*", "anything"));
    assert!(no_proxy_matches(".example.com", "api.example.com"));
    assert!(no_proxy_matches("example.com:443", "example.com"));
    assert!(!no_proxy_matches("example.com", "badexample.com"));
    assert!(!no_proxy_matches("", "example.com"));
    assert!(no_proxy_matches("::1", "::1"));
}

#[test]
fn a_provider_url_overrides_and_ignores_no_proxy() {
    let toml = format!("{TWO}egress_proxy = \"http://own:9\"\n");
    let config = load(&toml, &[("NO_PROXY", "*")]).unwrap();
    assert_eq!(proxies(&config), [None, Some("own:9".into())]);
}

#[test]
fn credentials_become_a_basic_proxy_authorization() {
    let toml = format!("[server]\negress_proxy = \"env:PROXY\"\n{TWO}");
    let config = load(&toml, &[("PROXY", "http://us%40r:p%3Ass@proxy:3128")]).unwrap();
    let proxy = config.providers[0].egress_proxy.clone().unwrap();
    // base64("us@r:p:ss")
    assert_eq!(
        proxy.authorization.unwrap().expose(),
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("us@r:p:ss")
        )
    );
    assert_eq!(proxy.port, 3128);
    let default_port = load(
        &format!("[server]\negress_proxy = \"http://p\"\n{TWO}"),
        &[],
    )
    .unwrap();
    assert_eq!(
        default_port.providers[0]
            .egress_proxy
            .as_ref()
            .unwrap()
            .port,
        DEFAULT_PROXY_PORT
    );
    let no_scheme = load(TWO, &[("HTTPS_PROXY", "proxy.corp:3128")]).unwrap();
    assert_eq!(proxies(&no_scheme)[0].as_deref(), Some("proxy.corp:3128"));
}

#[test]
fn bad_proxy_settings_name_their_key() {
    for (toml, vars, named) in [
        (
            format!("[server]\negress_proxy = \"https://p:1\"\n{TWO}"),
            vec![],
            "server.egress_proxy",
        ),
        (
            format!("{TWO}egress_proxy = \"http://p:1/path\"\n"),
            vec![],
            "providers[1].egress_proxy",
        ),
        (
            format!("[server]\negress_proxy = \"env:MISSING\"\n{TWO}"),
            vec![],
            "server.egress_proxy",
        ),
        (
            TWO.to_owned(),
            vec![("HTTPS_PROXY", "not a url")],
            "HTTPS_PROXY",
        ),
    ] {
        let err = load(&toml, &vars).unwrap_err();
        assert!(err.to_string().contains(named), "{toml}: {err}");
    }
}
