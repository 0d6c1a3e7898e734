use super::*;
use proptest::prelude::*;
use serde_json::json;

const CASES: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/eventbridge-patterns/cases.jsonl"
));

/// Corpus cases that cannot pass, with the reason. Must stay empty unless justified.
const KNOWN_EXCEPTIONS: &[(&str, &str)] = &[];

fn parse_case_pattern(pattern: &Value) -> Vec<(&'static str, Result<Pattern, PatternError>)> {
    match pattern {
        // complex_multi_key: the verbatim text, with its duplicate key.
        Value::String(text) => vec![("parse_str", Pattern::parse_str(text))],
        other => vec![
            ("parse", Pattern::parse(other)),
            ("parse_str", Pattern::parse_str(&other.to_string())),
            (
                "parse_str(pretty)",
                Pattern::parse_str(&serde_json::to_string_pretty(other).unwrap()),
            ),
        ],
    }
}

#[test]
fn conformance_corpus() {
    let mut failures = Vec::new();
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut total = 0;
    for line in CASES.lines().filter(|l| !l.trim().is_empty()) {
        let case: Value = serde_json::from_str(line).unwrap();
        let name = case["name"].as_str().unwrap();
        let expect = case["expect"].as_str().unwrap();
        total += 1;
        *counts.entry(expect.to_string()).or_default() += 1;
        if KNOWN_EXCEPTIONS.iter().any(|(n, _)| *n == name) {
            continue;
        }
        for (how, parsed) in parse_case_pattern(&case["pattern"]) {
            let problem = match (expect, parsed) {
                ("match", Ok(p)) => (!p.matches(&case["event"]))
                    .then(|| format!("did not match: {:?}", p.explain(&case["event"]))),
                ("no-match", Ok(p)) => p.matches(&case["event"]).then(|| "matched".to_string()),
                ("invalid", Err(e)) => {
                    let want = case["error"].as_str().unwrap();
                    (e.aws_message() != want)
                        .then(|| format!("message {:?}, want {want:?}", e.aws_message()))
                }
                ("invalid", Ok(_)) => Some("accepted an invalid pattern".into()),
                (_, Err(e)) => Some(format!("rejected: {e}")),
                (other, _) => Some(format!("unknown expectation {other}")),
            };
            if let Some(problem) = problem {
                failures.push(format!("{name} [{how}]: {problem}"));
            }
        }
    }
    assert_eq!(total, 156, "corpus size");
    assert_eq!(counts["match"], 67);
    assert_eq!(counts["no-match"], 51);
    assert_eq!(counts["invalid"], 38);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn pat(v: Value) -> Pattern {
    Pattern::parse(&v).unwrap_or_else(|e| panic!("{v}: {e}"))
}

fn err(v: Value) -> PatternError {
    match Pattern::parse(&v) {
        Ok(_) => panic!("accepted {v}"),
        Err(e) => e,
    }
}

/// (pattern, event, expected) tables for each operator.
fn check_table(rows: &[(Value, Value, bool)]) {
    for (p, e, want) in rows {
        let compiled = pat(p.clone());
        assert_eq!(compiled.matches(e), *want, "pattern {p} event {e}");
        assert_eq!(
            compiled.explain(e).is_ok(),
            *want,
            "explain: pattern {p} event {e}"
        );
    }
}

#[test]
fn exact_values() {
    check_table(&[
        (json!({"a": ["x"]}), json!({"a": "x"}), true),
        (json!({"a": ["x"]}), json!({"a": "X"}), false),
        (json!({"a": ["x", "y"]}), json!({"a": "y"}), true),
        (json!({"a": ["x"]}), json!({"a": ["z", "x"]}), true),
        (json!({"a": ["x"]}), json!({"a": []}), false),
        (json!({"a": [""]}), json!({"a": ""}), true),
        (json!({"a": [""]}), json!({"a": null}), false),
        (json!({"a": [null]}), json!({"a": null}), true),
        (json!({"a": [null]}), json!({}), false),
        (json!({"a": [null]}), json!({"a": "null"}), false),
        (json!({"a": [true]}), json!({"a": true}), true),
        (json!({"a": [true]}), json!({"a": "true"}), false),
        (json!({"a": [300]}), json!({"a": 300.0}), true),
        (json!({"a": [3.0e2]}), json!({"a": 300}), true),
        (json!({"a": [300]}), json!({"a": "300"}), false),
        (json!({"a": ["300"]}), json!({"a": 300}), false),
        (
            json!({"a": [123456789012u64]}),
            json!({"a": 123456789012u64}),
            true,
        ),
        (
            json!({"a": [123456789012u64]}),
            json!({"a": 123456789013u64}),
            false,
        ),
        (
            json!({"a": [27.807807921694092]}),
            json!({"a": 27.807807921694092}),
            true,
        ),
        (
            json!({"a": [27.807807921694092]}),
            json!({"a": 27.8078079}),
            false,
        ),
        (json!({"a": ["10.0.0.1"]}), json!({"a": "10.0.0.1"}), true),
        (json!({"a": ["::1"]}), json!({"a": "0:0:0:0:0:0:0:1"}), true),
        (json!({"a": {"b": ["x"]}}), json!({"a": {"b": "x"}}), true),
        (json!({"a": {"b": ["x"]}}), json!({"a": "x"}), false),
        (
            json!({"a": {"b": ["x"]}}),
            json!({"a": [{"b": "y"}, {"b": "x"}]}),
            true,
        ),
        (json!({"a": ["x"]}), json!("not an object"), false),
    ]);
}

#[test]
fn string_operators() {
    check_table(&[
        (json!({"a": [{"prefix": "ab"}]}), json!({"a": "abc"}), true),
        (
            json!({"a": [{"prefix": "ab"}]}),
            json!({"a": "xabc"}),
            false,
        ),
        (json!({"a": [{"prefix": "1"}]}), json!({"a": 12}), false),
        (json!({"a": [{"prefix": ""}]}), json!({"a": ""}), true),
        (
            json!({"a": [{"prefix": {"equals-ignore-case": "AB"}}]}),
            json!({"a": "aBc"}),
            true,
        ),
        (
            json!({"a": [{"suffix": ".png"}]}),
            json!({"a": "x.png"}),
            true,
        ),
        (
            json!({"a": [{"suffix": ".png"}]}),
            json!({"a": "x.PNG"}),
            false,
        ),
        (
            json!({"a": [{"suffix": {"equals-ignore-case": ".png"}}]}),
            json!({"a": "x.PnG"}),
            true,
        ),
        (
            json!({"a": [{"equals-ignore-case": "Straße"}]}),
            json!({"a": "STRASSE"}),
            true,
        ),
        (
            json!({"a": [{"equals-ignore-case": "abc"}]}),
            json!({"a": "ABC"}),
            true,
        ),
        (
            json!({"a": [{"equals-ignore-case": "abc"}]}),
            json!({"a": "ABCD"}),
            false,
        ),
        (
            json!({"a": [{"equals-ignore-case": "1"}]}),
            json!({"a": 1}),
            false,
        ),
        (
            json!({"a": [{"wildcard": "a*c"}]}),
            json!({"a": "abbbc"}),
            true,
        ),
        (
            json!({"a": [{"wildcard": "a*c"}]}),
            json!({"a": "ac"}),
            true,
        ),
        (
            json!({"a": [{"wildcard": "a*c"}]}),
            json!({"a": "acb"}),
            false,
        ),
        (json!({"a": [{"wildcard": "*"}]}), json!({"a": ""}), true),
        (
            json!({"a": [{"wildcard": "a\\*c"}]}),
            json!({"a": "a*c"}),
            true,
        ),
        (
            json!({"a": [{"wildcard": "a\\*c"}]}),
            json!({"a": "abc"}),
            false,
        ),
        (
            json!({"a": [{"wildcard": "a\\\\c"}]}),
            json!({"a": "a\\c"}),
            true,
        ),
        (
            json!({"a": [{"wildcard": "*.png"}]}),
            json!({"a": 5}),
            false,
        ),
    ]);
}

#[test]
fn anything_but() {
    check_table(&[
        (
            json!({"a": [{"anything-but": "x"}]}),
            json!({"a": "y"}),
            true,
        ),
        (
            json!({"a": [{"anything-but": "x"}]}),
            json!({"a": "x"}),
            false,
        ),
        (json!({"a": [{"anything-but": "x"}]}), json!({}), false),
        (
            json!({"a": [{"anything-but": "x"}]}),
            json!({"a": null}),
            true,
        ),
        (json!({"a": [{"anything-but": "x"}]}), json!({"a": 5}), true),
        (
            json!({"a": [{"anything-but": ["x", "y"]}]}),
            json!({"a": "y"}),
            false,
        ),
        (
            json!({"a": [{"anything-but": [1, 2]}]}),
            json!({"a": 2.0}),
            false,
        ),
        (
            json!({"a": [{"anything-but": [1, 2]}]}),
            json!({"a": "2"}),
            true,
        ),
        (
            json!({"a": [{"anything-but": {"prefix": "us-"}}]}),
            json!({"a": "eu-west-1"}),
            true,
        ),
        (
            json!({"a": [{"anything-but": {"prefix": "us-"}}]}),
            json!({"a": "us-east-1"}),
            false,
        ),
        (
            json!({"a": [{"anything-but": {"suffix": ".png"}}]}),
            json!({"a": "a.jpg"}),
            true,
        ),
        (
            json!({"a": [{"anything-but": {"equals-ignore-case": "X"}}]}),
            json!({"a": "x"}),
            false,
        ),
        (
            json!({"a": [{"anything-but": {"wildcard": "*/lib/*"}}]}),
            json!({"a": "/usr/lib/x"}),
            false,
        ),
        (
            json!({"a": [{"anything-but": {"wildcard": "*/lib/*"}}]}),
            json!({"a": "/usr/bin/x"}),
            true,
        ),
        (
            json!({"a": [{"anything-but": {"prefix": []}}]}),
            json!({"a": "anything"}),
            true,
        ),
        // An array value: any element that is not excluded is enough.
        (
            json!({"a": [{"anything-but": "x"}]}),
            json!({"a": ["x", "y"]}),
            true,
        ),
        (
            json!({"a": [{"anything-but": "x"}]}),
            json!({"a": ["x"]}),
            false,
        ),
    ]);
}

#[test]
fn numeric() {
    check_table(&[
        (
            json!({"n": [{"numeric": [">", 10]}]}),
            json!({"n": 11}),
            true,
        ),
        (
            json!({"n": [{"numeric": [">", 10]}]}),
            json!({"n": 10}),
            false,
        ),
        (
            json!({"n": [{"numeric": [">=", 10]}]}),
            json!({"n": 10}),
            true,
        ),
        (
            json!({"n": [{"numeric": ["<", 10]}]}),
            json!({"n": -5e9}),
            true,
        ),
        (
            json!({"n": [{"numeric": ["<=", 10]}]}),
            json!({"n": 10.0}),
            true,
        ),
        (
            json!({"n": [{"numeric": ["=", 301.8]}]}),
            json!({"n": 3.018e2}),
            true,
        ),
        (
            json!({"n": [{"numeric": [">", 0, "<=", 5]}]}),
            json!({"n": 5}),
            true,
        ),
        (
            json!({"n": [{"numeric": [">", 0, "<=", 5]}]}),
            json!({"n": 0}),
            false,
        ),
        (
            json!({"n": [{"numeric": [">", 0, "<", 5]}]}),
            json!({"n": 4.999999}),
            true,
        ),
        (
            json!({"n": [{"numeric": [">", 0]}]}),
            json!({"n": 0.000001}),
            true,
        ),
        (
            json!({"n": [{"numeric": [">", 0]}]}),
            json!({"n": 6e9}),
            false,
        ),
        (
            json!({"n": [{"numeric": [">", 0]}]}),
            json!({"n": 1.0000001}),
            false,
        ),
        (
            json!({"n": [{"numeric": [">", 0]}]}),
            json!({"n": "5"}),
            false,
        ),
        (
            json!({"n": [{"numeric": [">", 0]}]}),
            json!({"n": [-1, 3]}),
            true,
        ),
        (
            json!({"n": [{"numeric": [">=", -5e9, "<=", 5e9]}]}),
            json!({"n": 5e9}),
            true,
        ),
    ]);
}

#[test]
fn exists_and_null() {
    check_table(&[
        (json!({"a": [{"exists": true}]}), json!({"a": "x"}), true),
        (json!({"a": [{"exists": true}]}), json!({"a": null}), true),
        (json!({"a": [{"exists": true}]}), json!({"a": ""}), true),
        (
            json!({"a": [{"exists": true}]}),
            json!({"a": {"b": 1}}),
            false,
        ),
        (json!({"a": [{"exists": true}]}), json!({"a": []}), false),
        (json!({"a": [{"exists": true}]}), json!({"a": [1]}), true),
        (json!({"a": [{"exists": false}]}), json!({}), true),
        (
            json!({"a": [{"exists": false}]}),
            json!({"a": {"b": 1}}),
            true,
        ),
        (json!({"a": [{"exists": false}]}), json!({"a": []}), true),
        (json!({"a": [{"exists": false}]}), json!({"a": null}), false),
        (json!({"a": [{"exists": false}]}), json!({"a": "x"}), false),
        (
            json!({"a": [{"exists": false}, "x"]}),
            json!({"a": "x"}),
            true,
        ),
        (
            json!({"a": [{"exists": false}, "x"]}),
            json!({"a": "y"}),
            false,
        ),
    ]);
}

#[test]
fn cidr() {
    check_table(&[
        (
            json!({"ip": [{"cidr": "10.0.0.0/24"}]}),
            json!({"ip": "10.0.0.255"}),
            true,
        ),
        (
            json!({"ip": [{"cidr": "10.0.0.0/24"}]}),
            json!({"ip": "10.0.1.0"}),
            false,
        ),
        (
            json!({"ip": [{"cidr": "10.0.0.0/8"}]}),
            json!({"ip": "10.255.1.2"}),
            true,
        ),
        (
            json!({"ip": [{"cidr": "10.0.0.0/8"}]}),
            json!({"ip": "::ffff:a00:1"}),
            true,
        ),
        (
            json!({"ip": [{"cidr": "10.0.0.0/8"}]}),
            json!({"ip": "10.0.0.256"}),
            false,
        ),
        (
            json!({"ip": [{"cidr": "10.0.0.0/8"}]}),
            json!({"ip": 10}),
            false,
        ),
        (
            json!({"ip": [{"cidr": "10.0.0.0/0"}]}),
            json!({"ip": "200.1.1.1"}),
            true,
        ),
        (
            json!({"ip": [{"cidr": "2001:db8::/32"}]}),
            json!({"ip": "2001:DB8:ffff::1"}),
            true,
        ),
        (
            json!({"ip": [{"cidr": "2001:db8::/32"}]}),
            json!({"ip": "2001:db9::1"}),
            false,
        ),
        (
            json!({"ip": [{"cidr": "2001:db8::/32"}]}),
            json!({"ip": "10.0.0.1"}),
            false,
        ),
    ]);
}

#[test]
fn or_and_dot_joining() {
    check_table(&[
        (
            json!({"$or": [{"a": ["1"]}, {"b": ["2"]}]}),
            json!({"b": "2"}),
            true,
        ),
        (
            json!({"$or": [{"a": ["1"]}, {"b": ["2"]}]}),
            json!({"a": "2"}),
            false,
        ),
        (
            json!({"c": ["3"], "$or": [{"a": ["1"]}, {"b": ["2"]}]}),
            json!({"b": "2"}),
            false,
        ),
        (
            json!({"d": {"$or": [{"a": ["1"]}, {"b": {"c": ["2"]}}]}}),
            json!({"d": {"b": {"c": "2"}}}),
            true,
        ),
        (
            json!({"$or": [{"a": ["1"]}, {"$or": [{"b": ["2"]}, {"c": ["3"]}]}]}),
            json!({"c": "3"}),
            true,
        ),
        (json!({"a.b": ["x"]}), json!({"a": {"b": "x"}}), true),
        (json!({"a": {"b": ["x"]}}), json!({"a.b": "x"}), true),
    ]);
}

#[test]
fn array_consistency() {
    let p = pat(json!({"employees": {"firstName": ["Anna"], "lastName": ["Jones"]}}));
    let event = json!({"employees": [
        {"firstName": "John", "lastName": "Doe"},
        {"firstName": "Anna", "lastName": "Smith"},
        {"firstName": "Peter", "lastName": "Jones"}
    ]});
    assert!(!p.matches(&event));
    let m = p.explain(&event).unwrap_err();
    assert_eq!(m.path, "employees.firstName");
    assert!(m.reason.contains("different elements"), "{m}");
    let p = pat(json!({"employees": {"firstName": ["Anna"], "lastName": ["Smith"]}}));
    assert!(p.matches(&event));
    // Nested arrays: consistent at the outer level is what counts.
    let p = pat(json!({"a": {"b": [1], "c": [2]}}));
    assert!(p.matches(&json!({"a": [[{"b": 1, "c": 2}], [{"b": 3}]]})));
    assert!(!p.matches(&json!({"a": [{"b": 1}, {"c": 2}]})));
    // Independent arrays do not constrain each other.
    let p = pat(json!({"x": {"a": [1]}, "y": {"b": [2]}}));
    assert!(p.matches(&json!({"x": [{"a": 0}, {"a": 1}], "y": [{"b": 2}, {"b": 0}]})));
}

#[test]
fn deep_and_large_events() {
    let p = pat(json!({"a": ["x"], "b": [{"exists": false}]}));
    let mut deep = json!("x");
    for _ in 0..500 {
        deep = json!([deep]);
    }
    let mut event = json!({ "a": deep });
    let mut other = json!(1);
    for _ in 0..500 {
        other = json!({ "z": other });
    }
    event["z"] = other;
    assert!(p.matches(&event));
    let wide: Vec<Value> = (0..5000).map(|i| json!({"k": i, "v": i % 7})).collect();
    // 4999 % 7 == 1: the element with k 4999 has v 1, other elements have v 2.
    let p = pat(json!({"w": {"k": [4999], "v": [2]}}));
    assert!(!p.matches(&json!({ "w": wide.clone() })));
    let p = pat(json!({"w": {"k": [4999], "v": [1]}}));
    assert!(p.matches(&json!({ "w": wide })));
}

#[test]
fn duplicate_keys_last_wins() {
    let text = r#"{"a": ["1"], "a": ["2"]}"#;
    let p = Pattern::parse_str(text).unwrap();
    assert!(p.matches(&json!({"a": "2"})));
    assert!(!p.matches(&json!({"a": "1"})));
    assert_eq!(p.overridden_paths(), ["a"]);
    assert!(pat(json!({"a": ["1"]})).overridden_paths().is_empty());
    // Different spellings of one path also override in document order.
    let p = Pattern::parse_str(r#"{"a": {"b": ["1"]}, "a.b": ["2"]}"#).unwrap();
    assert!(p.matches(&json!({"a": {"b": "2"}})));
    assert!(!p.matches(&json!({"a": {"b": "1"}})));
    // Every occurrence is still validated.
    assert!(Pattern::parse_str(r#"{"a": [], "a": ["2"]}"#).is_err());
}

#[test]
fn invalid_patterns() {
    let cases: Vec<(Value, &str, &str)> = vec![
            (json!([]), "Filter is not an object", ""),
            (json!("x"), "Filter is not an object", ""),
            (json!({}), "Empty objects are not allowed", ""),
            (json!({"a": {}}), "Empty objects are not allowed", "a"),
            (json!({"a": []}), "Empty arrays are not allowed", "a"),
            (json!({"source": "x"}), "\"source\" must be an object or an array", "source"),
            (json!({"a": [["x"]]}), "Match value must be String, number, true, false, or null", "a[0]"),
            (json!({"a": [{}]}), "Match expression name not found", "a[0]"),
            (json!({"a": [{"Prefix": "x"}]}), "Unrecognized match type Prefix", "a[0]"),
            (json!({"a": [{"contains": "x"}]}), "Unrecognized match type contains", "a[0]"),
            (json!({"a": [{"prefix": "x", "suffix": "y"}]}), MSG_ONE_KEY, "a[0]"),
            (json!({"a": [{"prefix": {"equals-ignore-case": 1}}]}), "equals-ignore-case match pattern must be a string", "a[0].prefix.equals-ignore-case"),
            (json!({"a": [{"prefix": {"exact": "x"}}]}), "Unsupported prefix pattern: exact", "a[0].prefix"),
            (json!({"a": [{"exists": "yes"}]}), "exists match pattern must be either true or false.", "a[0].exists"),
            (json!({"a": [{"numeric": []}]}), "Invalid member in numeric match: ]", "a[0].numeric"),
            (json!({"a": [{"numeric": ["!=", 1]}]}), "Unrecognized numeric range operator: !=", "a[0].numeric"),
            (json!({"a": [{"numeric": ["=", "1"]}]}), "Value of equals must be numeric", "a[0].numeric"),
            (json!({"a": [{"numeric": ["<", 5, ">", 1]}]}), MSG_TOO_MANY, "a[0].numeric"),
            (json!({"a": [{"numeric": [">", 5, "<", 1]}]}), "Bottom must be less than top", "a[0].numeric"),
            (json!({"a": [{"numeric": [">=", 5, "<=", 5]}]}), "Bottom must be less than top", "a[0].numeric"),
            (json!({"a": [{"numeric": [">", 0, "<", 5, 6]}]}), "Too many terms in numeric range expression", "a[0].numeric"),
            (json!({"a": [{"numeric": [">", 5e9 + 1.0]}]}), MSG_RANGE, "a[0].numeric"),
            (json!({"a": [{"numeric": [">", 0.0000001]}]}), MSG_DECIMALS, "a[0].numeric"),
            (json!({"a": [{"numeric": [">", 1], "x": 1}]}), MSG_TOO_MANY, "a[0]"),
            (json!({"a": [{"anything-but": ["x", 1]}]}), "Inside anything but list, either all values are number or string, mixed type is not supported", "a[0].anything-but"),
            (json!({"a": [{"anything-but": []}]}), "Inside anything but list, either all values are number or string, mixed type is not supported", "a[0].anything-but"),
            (json!({"a": [{"anything-but": [true]}]}), "Inside anything but list, start|null|boolean is not supported.", "a[0].anything-but"),
            (json!({"a": [{"anything-but": {"exists": true}}]}), "Unsupported anything-but pattern: exists", "a[0].anything-but"),
            (json!({"a": [{"anything-but": [1e10]}]}), MSG_RANGE, "a[0].anything-but"),
            (json!({"a": [{"wildcard": "a**"}]}), "Consecutive wildcard characters at pos 2", "a[0].wildcard"),
            (json!({"a": [{"wildcard": "a\\b"}]}), "Invalid escape character at pos 2", "a[0].wildcard"),
            (json!({"a": [{"wildcard": "a\\"}]}), "Invalid escape character at pos 2", "a[0].wildcard"),
            (json!({"a": [{"anything-but": {"wildcard": ["ok", "x**"]}}]}), "Consecutive wildcard characters at pos 2", "a[0].anything-but"),
            (json!({"a": [{"cidr": "10.0.0.0/32"}]}), "IPv4 mask bits must be < 32", "a[0].cidr"),
            (json!({"a": [{"cidr": "::/128"}]}), "IPv6 mask bits must be < 128", "a[0].cidr"),
            (json!({"a": [{"cidr": "10.0.0.0/-1"}]}), "Malformed CIDR, mask bits must not be negative", "a[0].cidr"),
            (json!({"a": [{"cidr": "10.0.0.300/8"}]}), "Invalid IP address: 10.0.0.300", "a[0].cidr"),
            (json!({"a": [{"cidr": "10.0.0.0"}]}), "Malformed CIDR, one '/' required", "a[0].cidr"),
            (json!({"$or": [{"a": ["1"]}]}), "There must have at least 2 Objects in $or relationship.", "$or"),
            (json!({"$or": {"a": ["1"]}}), "It must be an Array followed with $or.", "$or"),
            (json!({"$or": [{"a": ["1"]}, "b"]}), "Only JSON object is allowed in array of $or relationship.", "$or[1]"),
            (json!({"$or": [{"a": ["1"]}, {"prefix": ["b"]}]}), "prefix is Ruler reserved fieldName which cannot be used inside $or.", "$or[1].prefix"),
        ];
    for (p, message, path) in cases {
        let e = err(p.clone());
        assert_eq!(e.message, message, "pattern {p}");
        assert_eq!(e.path, path, "pattern {p}");
        assert_eq!(e.aws_message(), format!("{AWS_PREFIX}{message}"));
    }
    let e = err(json!({"a": [{"prefix": 1}]}));
    assert_eq!(
        e.to_string(),
        "prefix match pattern must be a string at a[0].prefix"
    );
}

#[test]
fn size_and_depth_limits() {
    let long = "x".repeat(MAX_PATTERN_CHARS);
    let e = Pattern::parse(&json!({ "a": [long] })).unwrap_err();
    assert!(e.message.contains("maximum is 4096"), "{e}");
    let fits = "x".repeat(MAX_PATTERN_CHARS - 10);
    assert!(Pattern::parse_str(&format!("{{\"a\":[\"{fits}\"]}}")).is_ok());
    let mut deep = json!(["x"]);
    for _ in 0..200 {
        deep = json!({ "a": deep });
    }
    assert!(Pattern::parse(&deep).is_err());
    assert!(Pattern::parse_str("{\"a\": [\"x\"]").is_err());
    assert!(Pattern::parse_str("{\"a\": [\"x\"]} trailing").is_err());
    let mut wide = serde_json::Map::new();
    for i in 0..11 {
        wide.insert(
            format!("k{i}"),
            json!({"$or": [{"a": ["1"]}, {"b": ["2"]}]}),
        );
    }
    let e = Pattern::parse(&Value::Object(wide)).unwrap_err();
    assert!(e.message.contains("Too many $or combinations"), "{e}");
}

#[test]
fn wildcard_complexity_scores() {
    let score = |w: &str| {
        let w = Wildcard::parse(w).unwrap();
        wildcard_complexity(&[&w], 1000)
    };
    assert_eq!(score("*:*:*:*:*:event-bus/*"), 11);
    assert_eq!(score("/Users/*/dir/dir/dir/dir/dir/doc.txt"), 7);
    assert_eq!(score("arn:aws:events:us-east-1:*:event-bus/*"), 3);
    assert_eq!(score("abc"), 1);
    // The recorded corpus cases sit on either side of the limit.
    assert!(score("*:*:*:*:*:event-bus/*") > MAX_WILDCARD_COMPLEXITY);
    assert!(score("/Users/*/dir/dir/dir/dir/dir/doc.txt") <= MAX_WILDCARD_COMPLEXITY);
    // Several wildcards on one field add up.
    // (A public report: three `*:stack/<name>/*` values on one field were accepted, four
    // were rejected as too complex.)
    let many: Vec<Wildcard> = ["*:stack/a/*", "*:stack/b/*", "*:stack/c/*", "*:stack/d/*"]
        .iter()
        .map(|w| Wildcard::parse(w).unwrap())
        .collect();
    let refs: Vec<&Wildcard> = many.iter().collect();
    assert_eq!(wildcard_complexity(&refs[..3], 1000), 9);
    assert_eq!(wildcard_complexity(&refs, 1000), 12);
    assert!(wildcard_complexity(&refs[..3], 1000) <= MAX_WILDCARD_COMPLEXITY);
    assert!(wildcard_complexity(&refs, 1000) > MAX_WILDCARD_COMPLEXITY);
    // Early exit: never explores past the limit.
    assert!(wildcard_complexity(&refs, 5) > 5);
    // Through the parser, with the service's message.
    let e = err(
        json!({"f": [{"wildcard": "*:stack/a/*"}, {"wildcard": "*:stack/b/*"},
                                 {"wildcard": "*:stack/c/*"}, {"wildcard": "*:stack/d/*"}]}),
    );
    assert_eq!(e.message, MSG_TOO_COMPLEX);
    assert_eq!(e.path, "f");
    // anything-but wildcards do not count.
    assert!(
        Pattern::parse(&json!({"f": [{"anything-but": {"wildcard": "*:*:*:*:*:e/*"}}]})).is_ok()
    );
}

#[test]
fn explain_names_the_detail_type_typo() {
    let text = r#"{"source": ["com.ami.builder"], "detail-type": ["AmiBuilder"],
                       "detail": {"AmiStatus": ["Created"]}}"#;
    let event = json!({
        "source": "com.ami.builder",
        "detail-type": "AmiBuilder ",
        "detail": {"AmiStatus": "Created", "AmiId": "ami-0123"}
    });
    for p in [
        Pattern::parse_str(text).unwrap(),
        pat(serde_json::from_str(text).unwrap()),
    ] {
        assert!(!p.matches(&event));
        let m = p.explain(&event).unwrap_err();
        assert_eq!(m.path, "detail-type");
        assert_eq!(
            m.to_string(),
            r#"detail-type: "AmiBuilder " is not one of ["AmiBuilder"]"#
        );
    }
    let mut fixed = event.clone();
    fixed["detail-type"] = json!("AmiBuilder");
    assert_eq!(Pattern::parse_str(text).unwrap().explain(&fixed), Ok(()));
}

#[test]
fn explain_reasons() {
    let p = Pattern::parse_str(
        r#"{"detail": {"AmiStatus": ["Created"], "size": [{"numeric": [">", 10]}]}}"#,
    )
    .unwrap();
    let m = p.explain(&json!({"detail": {"size": 5}})).unwrap_err();
    assert_eq!(m.to_string(), "detail.AmiStatus: field is missing");
    let m = p
        .explain(&json!({"detail": {"AmiStatus": "Created", "size": 5}}))
        .unwrap_err();
    assert_eq!(
        m.to_string(),
        r#"detail.size: 5 is not in numeric range [">", 10]"#
    );
    let m = p
        .explain(&json!({"detail": {"AmiStatus": {"x": 1}, "size": 50}}))
        .unwrap_err();
    assert!(
        m.reason
            .starts_with("field is missing (the event has an object"),
        "{m}"
    );
    let m = p
        .explain(&json!({"detail": {"AmiStatus": ["Deleted", "Failed"], "size": 50}}))
        .unwrap_err();
    assert_eq!(
        m.to_string(),
        r#"detail.AmiStatus: none of ["Deleted", "Failed"] is one of ["Created"]"#
    );
    let p = pat(json!({"a": [{"exists": false}]}));
    let m = p.explain(&json!({"a": 1})).unwrap_err();
    assert_eq!(
        m.reason,
        "field is present (1) but the pattern requires it to be absent"
    );
    let p = pat(json!({"a": [{"prefix": "x"}, "y"]}));
    let m = p.explain(&json!({"a": "z"})).unwrap_err();
    assert_eq!(
        m.reason,
        r#""z" does not match any of [{"prefix": "x"}, "y"]"#
    );
    // $or: the closest alternative is explained.
    let p = Pattern::parse_str(
        r#"{"$or": [{"a": ["1"], "b": ["2"]}, {"c": ["3"], "d": ["4"], "e": ["5"]}]}"#,
    )
    .unwrap();
    let m = p
        .explain(&json!({"c": "3", "d": "4", "e": "6"}))
        .unwrap_err();
    assert_eq!(m.path, "e");
    assert!(m.reason.contains("closest of 2 $or alternatives"), "{m}");
}

#[test]
fn numbers_to_micros() {
    assert_eq!(to_micros("1"), Ok(1_000_000));
    assert_eq!(to_micros("-0"), Ok(0));
    assert_eq!(to_micros("301.8"), Ok(301_800_000));
    assert_eq!(to_micros("3.018e2"), Ok(301_800_000));
    assert_eq!(to_micros("1.000000"), Ok(1_000_000));
    assert_eq!(to_micros("1E-6"), Ok(1));
    assert_eq!(to_micros("1e-7"), Err(NumError::TooPrecise));
    assert_eq!(to_micros("5e9"), Ok(5_000_000_000_000_000));
    assert_eq!(to_micros("-5000000000.000000"), Ok(-5_000_000_000_000_000));
    assert_eq!(to_micros("5000000000.000001"), Err(NumError::OutOfRange));
    assert_eq!(to_micros("1e400"), Err(NumError::OutOfRange));
    assert_eq!(to_micros("1e-400"), Err(NumError::TooPrecise));
    assert_eq!(to_micros("0e99999999999999999999"), Ok(0));
}

fn arb_json(depth: u32) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        prop_oneof![
            "[a-z*\\\\.:/ -]{0,8}",
            Just("10.0.0.1".to_string()),
            Just("::1".to_string()),
            Just("$or".to_string()),
            Just("prefix".to_string()),
            Just("anything-but".to_string()),
            Just(">".to_string()),
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(depth, 64, 6, |inner| {
        let key = prop_oneof![
            "[a-c.]{0,3}",
            Just("$or".to_string()),
            Just("prefix".to_string()),
            Just("numeric".to_string()),
            Just("anything-but".to_string()),
            Just("exists".to_string()),
            Just("wildcard".to_string()),
            Just("cidr".to_string()),
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(key, inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A pattern requiring each scalar leaf of `event` (arrays and empty objects skipped).
fn self_pattern(event: &Value) -> Option<Value> {
    match event {
        Value::Object(map) => {
            let fields: serde_json::Map<String, Value> = map
                .iter()
                .filter(|(k, _)| k.as_str() != "$or")
                .filter_map(|(k, v)| self_pattern(v).map(|p| (k.clone(), p)))
                .collect();
            (!fields.is_empty()).then_some(Value::Object(fields))
        }
        Value::Array(_) => None,
        scalar => Some(json!([scalar])),
    }
}

fn arb_scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-20i64..20).prop_map(|n| json!(n)),
        (-20i64..20).prop_map(|n| json!(n as f64 / 4.0)),
        prop::sample::select(vec![
            "", "x", "X", "xy", "a*b", "10.0.0.1", "10.1.2.3", "::1", "ab.png"
        ])
        .prop_map(|s| json!(s)),
    ]
}

fn arb_text() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["x", "X", "a", "ab", ".png", "10."]).prop_map(String::from)
}

/// One alternative of a valid pattern field.
fn arb_alternative() -> impl Strategy<Value = Value> {
    let wildcard = prop::sample::select(vec!["*", "x*", "*x", "a*b", "a\\*b", "*.png"]);
    prop_oneof![
        arb_scalar(),
        arb_text().prop_map(|t| json!({"prefix": t})),
        arb_text().prop_map(|t| json!({"suffix": {"equals-ignore-case": t}})),
        arb_text().prop_map(|t| json!({"equals-ignore-case": t})),
        wildcard.prop_map(|w| json!({"wildcard": w})),
        arb_text().prop_map(|t| json!({"anything-but": t})),
        prop::collection::vec(-5i64..5, 1..3).prop_map(|v| json!({"anything-but": v})),
        arb_text().prop_map(|t| json!({"anything-but": {"prefix": [t]}})),
        (-5i64..5).prop_map(|n| json!({"numeric": [">=", n]})),
        (-5i64..5, 1i64..5).prop_map(|(n, d)| json!({"numeric": [">", n, "<=", n + d]})),
        any::<bool>().prop_map(|b| json!({"exists": b})),
        Just(json!({"cidr": "10.0.0.0/8"})),
    ]
}

fn arb_object(inner: BoxedStrategy<Value>) -> BoxedStrategy<Value> {
    prop::collection::btree_map(
        prop::sample::select(vec!["a", "b", "c"]).prop_map(String::from),
        inner,
        1..3,
    )
    .prop_map(|m| Value::Object(m.into_iter().collect()))
    .boxed()
}

fn arb_pattern() -> impl Strategy<Value = Value> {
    let field = prop::collection::vec(arb_alternative(), 1..3)
        .prop_map(Value::Array)
        .boxed();
    let nested = arb_object(prop_oneof![field.clone(), arb_object(field)].boxed());
    (nested.clone(), prop::option::of((nested.clone(), nested))).prop_map(|(mut base, or)| {
        if let (Some((x, y)), Value::Object(map)) = (or, &mut base) {
            map.insert("$or".into(), json!([x, y]));
        }
        base
    })
}

fn arb_event() -> impl Strategy<Value = Value> {
    let leaf = arb_scalar();
    let value = leaf.prop_recursive(3, 24, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec!["a", "b", "c"]).prop_map(String::from),
                inner,
                0..3,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    prop::collection::btree_map(
        prop::sample::select(vec!["a", "b", "c"]).prop_map(String::from),
        value,
        0..4,
    )
    .prop_map(|m| Value::Object(m.into_iter().collect()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn valid_patterns_parse_and_agree(p in arb_pattern(), events in prop::collection::vec(arb_event(), 1..8)) {
        let from_value = Pattern::parse(&p);
        prop_assert!(from_value.is_ok(), "{}: {:?}", p, from_value.err());
        let from_value = from_value.unwrap();
        let from_text = Pattern::parse_str(&serde_json::to_string_pretty(&p).unwrap()).unwrap();
        for e in &events {
            let m = from_value.matches(e);
            prop_assert_eq!(m, from_text.matches(e), "{} on {}", p, e);
            prop_assert_eq!(m, from_value.explain(e).is_ok(), "{} on {}", p, e);
        }
    }

    #[test]
    fn parsing_arbitrary_json_never_panics(v in arb_json(4)) {
        let _ = Pattern::parse(&v);
        let _ = Pattern::parse_str(&v.to_string());
    }

    #[test]
    fn parsing_arbitrary_text_never_panics(s in "[\\[\\]{}\",:a-z0-9$.*\\\\ -]{0,40}") {
        let _ = Pattern::parse_str(&s);
    }

    #[test]
    fn matching_arbitrary_events_never_panics(p in arb_json(3), e in arb_json(4)) {
        if let Ok(p) = Pattern::parse(&p) {
            let matched = p.matches(&e);
            prop_assert_eq!(matched, p.explain(&e).is_ok());
        }
    }

    #[test]
    fn an_event_matches_a_pattern_of_its_own_leaves(
        fields in prop::collection::btree_map("[a-c.$]{0,3}", arb_json(3), 1..6)
    ) {
        let e = Value::Object(fields.into_iter().collect());
        if let Some(pattern) = self_pattern(&e) {
            for parsed in [Pattern::parse(&pattern), Pattern::parse_str(&pattern.to_string())] {
                match parsed {
                    Ok(p) => prop_assert!(p.matches(&e), "{} vs {}: {:?}", pattern, e, p.explain(&e)),
                    Err(err) => prop_assert!(err.message.contains("maximum is"), "{}: {}", pattern, err),
                }
            }
        }
    }
}
