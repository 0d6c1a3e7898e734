use super::*;

fn amis(x: &Extraction) -> Vec<(String, String, String)> {
    x.artifacts
        .iter()
        .map(|a| (a.build.clone(), a.region.to_string(), a.ami_id.to_string()))
        .collect()
}

fn t(b: &str, r: &str, a: &str) -> (String, String, String) {
    (b.into(), r.into(), a.into())
}

const BASIC: &str = "==> amazon-ebs: Creating AMI x from instance i-1\n    amazon-ebs: AMI: ami-0c4cbec3daaf0bac9\nBuild 'amazon-ebs' finished.\n\n==> Builds finished. The artifacts of successful builds are:\n--> amazon-ebs: AMIs were created:\nus-east-1: ami-e17bba1c74a9e08c2\nus-west-2: ami-06440139214f81529\n\n--> amazon-ebs: AMIs were created:\nus-east-1: ami-e17bba1c74a9e08c2\nus-west-2: ami-06440139214f81529\n";

#[test]
fn human_block_deduplicated_and_progress_line_ignored() {
    let x = extract_bytes(BASIC.as_bytes());
    assert_eq!(
        amis(&x),
        vec![
            t("amazon-ebs", "us-east-1", "ami-e17bba1c74a9e08c2"),
            t("amazon-ebs", "us-west-2", "ami-06440139214f81529"),
        ]
    );
    assert_eq!(x.builds_finished, 1);
}

#[test]
fn every_chunking_gives_the_same_result() {
    let whole = extract_bytes(BASIC.as_bytes());
    for size in [1, 2, 3, 7, 64] {
        let mut x = Extractor::new();
        for chunk in BASIC.as_bytes().chunks(size) {
            x.feed(chunk);
        }
        assert_eq!(x.finish().artifacts, whole.artifacts, "chunk size {size}");
    }
}

#[test]
fn pre_1_1_blank_line_after_header() {
    let log = "==> Builds finished. The artifacts of successful builds are:\n--> centos-7: AMIs were created:\n\nus-east-1: ami-12345678\n";
    let x = extract_bytes(log.as_bytes());
    assert_eq!(amis(&x), vec![t("centos-7", "us-east-1", "ami-12345678")]);
}

#[test]
fn block_ends_at_first_foreign_line() {
    let log = "==> Builds finished. The artifacts of successful builds are:\n--> a: AMIs were created:\nus-east-1: ami-12345678\nsomething else\nus-west-2: ami-87654321\n";
    let x = extract_bytes(log.as_bytes());
    assert_eq!(amis(&x), vec![t("a", "us-east-1", "ami-12345678")]);
}

#[test]
fn header_before_builds_finished_is_ignored() {
    let log = "--> a: AMIs were created:\nus-east-1: ami-12345678\n";
    let x = extract_bytes(log.as_bytes());
    assert!(x.artifacts.is_empty());
    assert_eq!(x.headers_outside_summary, 1);
    assert!(x
        .no_ami_explanation("stdin")
        .contains("without a preceding"));
}

#[test]
fn prefixes_colours_html_and_crlf() {
    let log = "07:08:11 \x1b[1;32m==&gt; Builds finished. The artifacts of successful builds are:\x1b[0m\r\n[2025-02-27T14:06:26.227Z] [1;32m--&gt; amazon-ebs.base: AMIs were created:[0m\r\n2026-11-27T18:04:20Z: us-east-1: ami-e17bba1c74a9e08c2\r\n";
    let x = extract_bytes(log.as_bytes());
    assert_eq!(
        amis(&x),
        vec![t("amazon-ebs.base", "us-east-1", "ami-e17bba1c74a9e08c2")]
    );
}

#[test]
fn machine_readable_artifact_with_packer_comma() {
    let log = "1795802656,,ui,say,\\n==> Builds finished. The artifacts of successful builds are:\n1795802656,amazon-ebs.base,artifact-count,1\n1795802656,amazon-ebs.base,artifact,0,builder-id,mitchellh.amazonebs\n1795802656,amazon-ebs.base,artifact,0,id,us-east-1:ami-42caaeeb7d5125f50%!(PACKER_COMMA)us-west-2:ami-7a0a52fd26a4d8109\n1795802656,amazon-ebs.base,artifact,0,string,AMIs were created:\\nus-east-1: ami-42caaeeb7d5125f50\\n\n1795802656,,ui,say,--> amazon-ebs.base: AMIs were created:\\nus-east-1: ami-42caaeeb7d5125f50\\nus-west-2: ami-7a0a52fd26a4d8109\\n\n";
    let x = extract_bytes(log.as_bytes());
    assert!(x.machine_readable);
    assert_eq!(
        amis(&x),
        vec![
            t("amazon-ebs.base", "us-east-1", "ami-42caaeeb7d5125f50"),
            t("amazon-ebs.base", "us-west-2", "ami-7a0a52fd26a4d8109"),
        ]
    );
}

#[test]
fn ebsvolume_artifacts_are_not_amis() {
    let log = "1,vol,artifact,0,builder-id,mitchellh.amazon.ebsvolume\n1,vol,artifact,0,id,us-east-1:ami-12345678\n";
    assert!(extract_bytes(log.as_bytes()).artifacts.is_empty());
}

#[test]
fn error_summary_is_kept() {
    let log = "Build 'amazon-ebs' errored after 320 milliseconds: Error processing tag\n\n==> Some builds didn't complete successfully and had errors:\n--> amazon-ebs: Error processing tag\n\n==> Builds finished but no artifacts were created.\n";
    let x = extract_bytes(log.as_bytes());
    assert!(x.artifacts.is_empty());
    assert!(x.no_artifacts_reported);
    assert_eq!(
        x.errors,
        vec!["amazon-ebs: Error processing tag".to_string()]
    );
    let msg = x.no_ami_explanation("build.log");
    assert!(msg.contains("skip_create_ami"), "{msg}");
    assert!(msg.contains("Error processing tag"), "{msg}");
}

#[test]
fn overlong_lines_are_skipped_not_buffered() {
    let mut x = Extractor::new();
    let junk = vec![b'x'; MAX_LINE + 10];
    x.feed(&junk);
    x.feed(b"\n==> Builds finished. The artifacts of successful builds are:\n--> a: AMIs were created:\nus-east-1: ami-12345678\n");
    let out = x.finish();
    assert_eq!(out.overlong_lines, 1);
    assert_eq!(out.artifacts.len(), 1);
}

const RECORDS: &str = "1795802656,,ui,say,\\n==> Builds finished. The artifacts of successful builds are:\n1795802656,a,artifact,0,builder-id,mitchellh.amazonebs\n1795802656,a,artifact,0,id,us-east-1:ami-42caaeeb7d5125f50\n1795802656,,ui,say,--> a: AMIs were created:\\nus-east-1: ami-42caaeeb7d5125f50\\n\n";

#[test]
fn ui_message_blocks_are_output_not_structure() {
    for spoof in [
            // a provisioner printing Packer's summary, with and without the build prefix
            "1795802656,,ui,message,    a: ==> Builds finished. The artifacts of successful builds are:\n1795802656,,ui,message,    a: --> a: AMIs were created:\\nus-east-1: ami-0badbadbadbadbad0\\n\n",
            "1795802656,,ui,message,==> Builds finished. The artifacts of successful builds are:\n1795802656,,ui,message,--> a: AMIs were created:\\nus-east-1: ami-0badbadbadbadbad0\\n\n",
            "1795802656,,ui,error,--> a: AMIs were created: us-east-1: ami-0badbadbadbadbad0\n",
            "1795802656,,ui,message,--> a: AMIs were created: us-east-1: ami-0badbadbadbadbad0\n",
        ] {
            // before and after Packer's own summary
            for log in [format!("{spoof}{RECORDS}"), format!("{RECORDS}{spoof}")] {
                for x in [
                    extract_bytes(log.as_bytes()),
                    {
                        let mut e = Extractor::packer_stream();
                        e.feed(log.as_bytes());
                        e.finish()
                    },
                ] {
                    assert_eq!(
                        amis(&x),
                        vec![t("a", "us-east-1", "ami-42caaeeb7d5125f50")],
                        "{log}"
                    );
                    assert!(x.foreign_headers >= 1, "{log}");
                    assert!(x.summary_disagreements().is_empty(), "{log}");
                }
            }
            // no records at all: nothing, and the explanation says why
            let x = extract_bytes(spoof.as_bytes());
            assert!(x.artifacts.is_empty(), "{spoof}");
            assert!(
                x.no_ami_explanation("log").contains("Packer did not print"),
                "{spoof}"
            );
        }
}

#[test]
fn text_in_a_machine_readable_stream_never_counts() {
    // a background process that inherited Packer's stdout prints a block
    let log = format!("{RECORDS}==> Builds finished. The artifacts of successful builds are:\n--> a: AMIs were created:\nus-west-2: ami-0badbadbadbadbad0\n");
    let x = extract_bytes(log.as_bytes());
    assert_eq!(amis(&x), vec![t("a", "us-east-1", "ami-42caaeeb7d5125f50")]);
    assert_eq!(x.foreign_headers, 1);
    // build's stream: text never counts, even with no record at all
    let mut e = Extractor::packer_stream();
    e.feed(b"==> Builds finished. The artifacts of successful builds are:\n--> a: AMIs were created:\nus-west-2: ami-0badbadbadbadbad0\n");
    assert!(e.finish().artifacts.is_empty());
}

#[test]
fn human_blocks_count_only_as_top_level_lines() {
    let log = "==> Builds finished. The artifacts of successful builds are:\n    a: --> a: AMIs were created:\n    a: us-east-1: ami-0badbadbadbadbad0\n    a: ==> Builds finished.\n07:08:11     a: --> a: AMIs were created: us-east-1: ami-0badbadbadbadbad0\n";
    let x = extract_bytes(log.as_bytes());
    assert!(x.artifacts.is_empty(), "{:?}", x.artifacts);
    assert_eq!(x.foreign_headers, 2);
    assert_eq!(x.builds_finished, 1);
}

#[test]
fn a_log_cut_inside_an_artifact_line_is_truncated() {
    for log in [
            "==> Builds finished. The artifacts of successful builds are:\n--> a: AMIs were created:\nus-east-1: ami-e17bba1c74a9e08c2\nus-west-2: ami-06440139",
            "==> Builds finished. The artifacts of successful builds are:\n--> a: AMIs were created: us-west-2: ami-06440139",
            "1795802656,,ui,say,\\n==> Builds finished.\n1795802656,a,artifact,0,id,us-east-1:ami-06440139",
        ] {
            for size in [1, 5, 4096] {
                let mut x = Extractor::new();
                for c in log.as_bytes().chunks(size) {
                    x.feed(c);
                }
                let x = x.finish();
                assert!(x.truncated_artifact_line, "{log}");
                assert!(
                    !x.artifacts.iter().any(|a| a.ami_id == "ami-06440139"),
                    "{log}"
                );
                assert!(x.truncated_explanation("log").contains("ends inside an artifact line"));
            }
            // the same log with its newline is fine
            let whole = extract_bytes(format!("{log}\n").as_bytes());
            assert!(!whole.truncated_artifact_line);
            assert!(whole.artifacts.iter().any(|a| a.ami_id == "ami-06440139"));
        }
    // any other unterminated last line is read as before
    let x = extract_bytes(b"==> Builds finished. The artifacts of successful builds are:\n--> a: AMIs were created:\nus-east-1: ami-e17bba1c74a9e08c2\n\nBuild done");
    assert!(!x.truncated_artifact_line);
    assert_eq!(x.artifacts.len(), 1);
}

#[test]
fn every_aws_region_shape_is_read() {
    let log = "==> Builds finished. The artifacts of successful builds are:\n--> a: AMIs were created:\neusc-de-east-1: ami-0123456789abcdef0\nus-gov-west-1: ami-0123456789abcdef1\n";
    let x = extract_bytes(log.as_bytes());
    assert_eq!(
        amis(&x),
        vec![
            t("a", "eusc-de-east-1", "ami-0123456789abcdef0"),
            t("a", "us-gov-west-1", "ami-0123456789abcdef1"),
        ]
    );
}

#[test]
fn only_well_formed_ids_count() {
    for bad in [
        "ami-0644013",
        "ami-064401392",
        "ami-06440139214f8152",
        "ami-06440139214f815299",
        "ami-0644O139",
        "ami-0644013G",
        "AMI-06440139",
        "ami-06440139\u{200b}",
    ] {
        let human = format!("==> Builds finished. The artifacts of successful builds are:\n--> a: AMIs were created:\nus-east-1: {bad}\n");
        let machine = format!("1,a,artifact,0,id,us-east-1:{bad}\n");
        assert!(
            extract_bytes(human.as_bytes()).artifacts.is_empty(),
            "{bad}"
        );
        assert!(
            extract_bytes(machine.as_bytes()).artifacts.is_empty(),
            "{bad}"
        );
    }
}

#[test]
fn an_overlong_line_ends_the_block_and_is_reported_by_number() {
    let long = "x".repeat(MAX_LINE + 1);
    let log = format!("==> Builds finished. The artifacts of successful builds are:\n--> a: AMIs were created:\nus-east-1: ami-e17bba1c74a9e08c2\n{long}\nus-west-2: ami-06440139214f81529\nok\n{long}\n");
    for size in [log.len(), 1 << 16, 4099] {
        let mut x = Extractor::new();
        for c in log.as_bytes().chunks(size) {
            x.feed(c);
        }
        let x = x.finish();
        assert_eq!(
            amis(&x),
            vec![t("a", "us-east-1", "ami-e17bba1c74a9e08c2")],
            "chunk {size}"
        );
        assert_eq!(x.overlong_lines, 2, "chunk {size}");
        assert_eq!(x.overlong_line_numbers, vec![4, 7], "chunk {size}");
        assert!(
            x.overlong_summary().contains("line 4, 7"),
            "{}",
            x.overlong_summary()
        );
    }
}

#[test]
fn records_and_summary_must_agree() {
    let log = "1795802656,,ui,say,\\n==> Builds finished. The artifacts of successful builds are:\n1795802656,a,artifact,0,id,us-east-1:ami-42caaeeb7d5125f50\n1795802656,,ui,say,--> a: AMIs were created:\\nus-east-1: ami-0000000000000000a\\n\n";
    let x = extract_bytes(log.as_bytes());
    let d = x.summary_disagreements();
    assert_eq!(d.len(), 2, "{d:?}");
    assert!(d[0].contains("ami-42caaeeb7d5125f50") && d[1].contains("ami-0000000000000000a"));
    assert!(extract_bytes(RECORDS.as_bytes())
        .summary_disagreements()
        .is_empty());
}

#[test]
fn empty_and_binary_inputs() {
    let e = extract_bytes(b"");
    assert!(e.artifacts.is_empty());
    assert!(e.no_ami_explanation("x").contains("empty"));
    let b = extract_bytes(&[0u8, 159, 146, 150, 0, b'\n', 255]);
    assert!(b.binary);
    assert!(b.artifacts.is_empty());
}
