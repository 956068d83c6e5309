//! The AWS shared config and credentials files (`~/.aws/config`, `~/.aws/credentials`): a small
//! INI reader and the merge of one profile's keys from both files, as the AWS SDKs do it.

use std::collections::HashMap;

/// The largest shared file read.
pub const MAX_PROFILE_FILE_BYTES: usize = 1024 * 1024;

/// Sections of one INI file: section name → key → value (keys lower-cased).
pub type Sections = HashMap<String, HashMap<String, String>>;

/// Parses an AWS INI file. `#`/`;` start comments; lines indented under a key are
/// sub-properties and are skipped; a `key = value` outside a section is ignored.
pub fn parse_ini(text: &str) -> Sections {
    let mut sections = Sections::new();
    let mut current: Option<String> = None;
    for raw in text.lines() {
        if raw.starts_with([' ', '\t']) && !raw.trim().is_empty() {
            continue;
        }
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(inner) = line.strip_prefix('[') {
            let name = inner.split(']').next().unwrap_or_default().trim();
            current = Some(name.split_whitespace().collect::<Vec<_>>().join(" "));
            sections
                .entry(current.clone().unwrap_or_default())
                .or_default();
            continue;
        }
        let (Some(section), Some((key, value))) = (&current, line.split_once('=')) else {
            continue;
        };
        let value = value
            .split(" #")
            .next()
            .unwrap_or(value)
            .split(" ;")
            .next()
            .unwrap_or(value);
        sections
            .entry(section.clone())
            .or_default()
            .insert(key.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
    sections
}

/// The keys of `profile`: the config file's `[profile NAME]` (or `[default]`) overlaid by the
/// credentials file's `[NAME]`. `None` when neither file has the profile.
pub fn profile_keys(
    config: &Sections,
    credentials: &Sections,
    profile: &str,
) -> Option<HashMap<String, String>> {
    let config_section = if profile == "default" {
        config
            .get("default")
            .or_else(|| config.get("profile default"))
    } else {
        config.get(&format!("profile {profile}"))
    };
    let credentials_section = credentials.get(profile);
    if config_section.is_none() && credentials_section.is_none() {
        return None;
    }
    let mut keys = config_section.cloned().unwrap_or_default();
    if let Some(section) = credentials_section {
        keys.extend(section.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    Some(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "\
# comment
[default]
region = us-east-1

[profile dev]
region=eu-west-1 # trailing comment
role_arn = arn:aws:iam::123:role/dev
web_identity_token_file = /var/run/token
s3 =
  max_concurrent_requests = 20
[profile  spaced   name ]
aws_access_key_id = AKIDSPACED
";

    const CREDENTIALS: &str = "\
[default]
aws_access_key_id = AKIDDEFAULT
aws_secret_access_key = secretdefault
; comment
[dev]
AWS_ACCESS_KEY_ID = AKIDDEV
aws_secret_access_key = secretdev
aws_session_token = tokdev
";

    #[test]
    fn profiles_merge_config_and_credentials() {
        let (config, credentials) = (parse_ini(CONFIG), parse_ini(CREDENTIALS));
        let default = profile_keys(&config, &credentials, "default").expect("default");
        assert_eq!(default["region"], "us-east-1");
        assert_eq!(default["aws_access_key_id"], "AKIDDEFAULT");
        let dev = profile_keys(&config, &credentials, "dev").expect("dev");
        assert_eq!(dev["region"], "eu-west-1");
        assert_eq!(dev["aws_access_key_id"], "AKIDDEV");
        assert_eq!(dev["aws_session_token"], "tokdev");
        assert_eq!(dev["web_identity_token_file"], "/var/run/token");
        assert!(!dev.contains_key("max_concurrent_requests"));
        assert_eq!(
            profile_keys(&config, &credentials, "spaced name").expect("spaced")["aws_access_key_id"],
            "AKIDSPACED"
        );
        assert!(profile_keys(&config, &credentials, "missing").is_none());
    }

    #[test]
    fn junk_is_ignored() {
        let sections = parse_ini("key=outside\n[\n=\n[a]\nno equals\n=v\n");
        assert_eq!(sections["a"].get(""), Some(&"v".to_owned()));
        assert!(!sections.values().any(|s| s.contains_key("key")));
    }
}
