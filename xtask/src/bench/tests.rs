//! Unit tests of the medians and the report.

use super::*;

fn s(ms: u64, kib: u64) -> Sample {
    Sample {
        elapsed: Duration::from_millis(ms),
        peak_rss_kib: kib,
    }
}

#[test]
fn median_is_the_middle_sample_or_the_mean_of_the_two() {
    let m = median(&[s(30, 3), s(10, 1), s(20, 2)]).unwrap();
    assert_eq!((m.elapsed, m.peak_rss_kib), (Duration::from_millis(20), 2));
    let m = median(&[s(40, 4), s(10, 1), s(20, 2), s(30, 3)]).unwrap();
    assert_eq!((m.elapsed, m.peak_rss_kib), (Duration::from_millis(25), 2));
    assert!(median(&[]).is_none());
}

#[test]
fn options_parse_and_reject_nonsense() {
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let o = parse(&args(&[
        "--runs", "3", "--counts", "64, 256", "--json", "x.json",
    ]))
    .unwrap();
    assert_eq!((o.runs, o.counts.clone()), (3, vec![64, 256]));
    assert_eq!(o.json, Some(PathBuf::from("x.json")));
    assert!(parse(&args(&["--runs", "0"])).is_err());
    assert!(parse(&args(&["--counts", "64,x"])).is_err());
    assert!(parse(&args(&["--bogus"])).is_err());
}

#[test]
fn baseline_is_thinned_out_only_where_it_takes_minutes() {
    assert!(baseline_runs(256, 4, false));
    assert!(baseline_runs(1024, 0, false) && !baseline_runs(1024, 1, false));
    assert!(!baseline_runs(4096, 0, false));
    assert!(baseline_runs(4096, 3, true));
}
