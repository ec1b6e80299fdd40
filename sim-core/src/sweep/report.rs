//! A sweep's rows as a table, as JSON lines, and joined back from the JSON
//! lines of its shards.

use std::collections::BTreeMap;

use super::measure::{Row, human};
use crate::input::InputError;

/// How rows are ordered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Order {
    /// As the sweep lists its failures (then seeds).
    #[default]
    Sweep,
    /// The worst first: black holes, then the longest outage; ties in
    /// sweep order.
    Worst,
}

/// `rows` in `order`.
pub fn sorted(mut rows: Vec<Row>, order: Order) -> Vec<Row> {
    rows.sort_by_key(|r| r.index);
    if order == Order::Worst {
        rows.sort_by(|a, b| b.worst().cmp(&a.worst()).then(a.index.cmp(&b.index)));
    }
    rows
}

/// One row per run: FAILURE SEED MOVED OUTAGE (worst probe) then every
/// probe's outage as `total = detection + reassignment + convergence`,
/// BLACK-HOLES and EXPECT (passed/total).
pub fn table(rows: &[Row]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let moved = if r.moved.is_empty() {
                "-".to_string()
            } else {
                r.moved
                    .iter()
                    .map(|m| {
                        let list = |v: &[String]| {
                            if v.is_empty() {
                                "none".to_string()
                            } else {
                                v.join(",")
                            }
                        };
                        format!(
                            "{} {}{}: {} -> {}",
                            m.kind,
                            m.name,
                            m.ip.as_deref().map_or(String::new(), |ip| format!(" {ip}")),
                            list(&m.from),
                            list(&m.to)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            let probes = r
                .probes
                .iter()
                .map(|p| {
                    if p.outage_ns == 0 {
                        return format!("{} {}", p.name, human(0));
                    }
                    let part = |v: Option<u64>| v.map_or("-".to_string(), human);
                    format!(
                        "{} {}{} = {} + {} + {}",
                        p.name,
                        human(p.outage_ns),
                        if p.black_hole { "+ (black hole)" } else { "" },
                        part(p.detection_ns),
                        part(p.reassignment_ns),
                        human(p.convergence_ns)
                    )
                })
                .collect::<Vec<_>>()
                .join("; ");
            let (hole, worst) = r.worst();
            vec![
                r.failure.clone(),
                r.seed.to_string(),
                moved,
                if hole {
                    format!("{}+", human(worst))
                } else {
                    human(worst)
                },
                if probes.is_empty() {
                    "-".into()
                } else {
                    probes
                },
                r.probes.iter().filter(|p| p.black_hole).count().to_string(),
                format!("{}/{}", r.expectations_passed, r.expectations_total),
            ]
        })
        .collect();
    crate::report::table(
        &[
            "FAILURE",
            "SEED",
            "MOVED",
            "WORST-OUTAGE",
            "PROBES (outage = detection + reassignment + convergence)",
            "BLACK-HOLES",
            "EXPECT",
        ],
        &cells,
    )
}

/// One JSON object per row, one per line.
pub fn json_lines(rows: &[Row]) -> String {
    let mut out = String::new();
    for r in rows {
        out.push_str(&serde_json::to_string(r).expect("rows serialise"));
        out.push('\n');
    }
    out
}

/// The rows of a whole sweep from its shards' JSON lines (`(file, text)`):
/// every row of the sweep exactly once, all of one scenario and one sweep
/// size; a line that is not a row is an error at its line and column.
pub fn merge(inputs: &[(String, String)]) -> Result<Vec<Row>, InputError> {
    let mut rows: BTreeMap<usize, Row> = BTreeMap::new();
    let mut first: Option<(String, String, usize, String)> = None;
    for (file, text) in inputs {
        for (i, line) in text.lines().enumerate() {
            let lineno = i as u64 + 1;
            if line.trim().is_empty() {
                continue;
            }
            let row: Row = serde_json::from_str(line).map_err(|e| {
                InputError::new(
                    file,
                    lineno,
                    e.column() as u64,
                    format!("not a sweep row (`antlab sweep -o json` writes them): {e}"),
                )
            })?;
            let at = |msg: String| InputError::new(file, lineno, 1, msg);
            if row.of > super::MAX_RUNS {
                return Err(at(format!(
                    "a sweep of {} rows; a sweep holds at most {}",
                    row.of,
                    super::MAX_RUNS
                )));
            }
            match &first {
                None => {
                    first = Some((
                        row.sweep.clone(),
                        row.scenario.clone(),
                        row.of,
                        file.clone(),
                    ))
                }
                Some((sweep, scn, of, from)) => {
                    if row.sweep != *sweep || row.scenario != *scn || row.of != *of {
                        return Err(at(format!(
                            "this row is from another sweep ({}, {} rows, sweep {}) than {from}'s ({scn}, {of} rows, sweep {sweep})",
                            row.scenario, row.of, row.sweep
                        )));
                    }
                }
            }
            if row.index >= row.of {
                return Err(at(format!(
                    "row {} of a sweep of {} rows",
                    row.index, row.of
                )));
            }
            if rows.contains_key(&row.index) {
                return Err(at(format!(
                    "row {} ({}) appears twice",
                    row.index, row.failure
                )));
            }
            rows.insert(row.index, row);
        }
    }
    let Some((_, _, of, _)) = first else {
        let file = inputs.first().map_or("-", |(f, _)| f.as_str());
        return Err(InputError::new(file, 1, 1, "no sweep rows to merge"));
    };
    let missing_count = of - rows.len();
    let missing: Vec<String> = (0..of)
        .filter(|i| !rows.contains_key(i))
        .take(10)
        .map(|i| i.to_string())
        .collect();
    if missing_count > 0 {
        let (file, text) = inputs.last().expect("some input");
        let line = text.lines().count().max(1) as u64;
        return Err(InputError::new(
            file,
            line,
            1,
            format!(
                "rows {}{} of {of} are missing (a shard that did not finish, or was not given)",
                missing.join(", "),
                if missing_count > missing.len() {
                    format!(" and {} more", missing_count - missing.len())
                } else {
                    String::new()
                }
            ),
        ));
    }
    Ok(rows.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::measure::{Move, ProbeOutage};

    fn row(index: usize, of: usize, outage: u64, hole: bool) -> Row {
        Row {
            index,
            of,
            sweep: "f".into(),
            scenario: "s".into(),
            failure: format!("power n{index}"),
            at_ns: 1,
            seed: index as u64,
            moved: if index == 1 {
                vec![Move {
                    kind: "egress".into(),
                    name: "eg".into(),
                    ip: Some("10.0.0.9".into()),
                    from: vec!["n1".into()],
                    to: vec!["n2".into()],
                }]
            } else {
                Vec::new()
            },
            probes: vec![ProbeOutage {
                name: "p".into(),
                outage_ns: outage,
                detection_ns: Some(outage / 2),
                reassignment_ns: None,
                convergence_ns: outage - outage / 2,
                black_hole: hole,
            }],
            expectations_passed: 1,
            expectations_total: 2,
        }
    }

    fn inputs(parts: &[(&str, &[Row])]) -> Vec<(String, String)> {
        parts
            .iter()
            .map(|(f, rows)| (f.to_string(), json_lines(rows)))
            .collect()
    }

    #[test]
    fn shards_merge_into_the_whole_sweep() {
        let all = vec![row(0, 3, 5, false), row(1, 3, 9, false), row(2, 3, 1, true)];
        let merged = merge(&inputs(&[
            ("b", &[all[1].clone()]),
            ("a", &[all[2].clone(), all[0].clone()]),
        ]))
        .unwrap();
        assert_eq!(merged, all);
        assert_eq!(json_lines(&merged), json_lines(&all));
        let t = table(&all);
        assert!(t.contains("egress eg 10.0.0.9: n1 -> n2"), "{t}");
        assert!(t.contains("p 1ns+ (black hole) = 0ns + - + 1ns"), "{t}");
        assert!(t.lines().nth(1).unwrap().contains("1/2"), "{t}");
    }

    #[test]
    fn worst_first_puts_black_holes_before_long_outages() {
        let all = vec![row(0, 3, 5, false), row(1, 3, 9, false), row(2, 3, 1, true)];
        let order: Vec<usize> = sorted(all, Order::Worst).iter().map(|r| r.index).collect();
        assert_eq!(order, [2, 1, 0]);
    }

    #[test]
    fn a_bad_merge_says_where() {
        let (r0, r1) = (row(0, 2, 5, false), row(1, 2, 9, false));
        let e = merge(&inputs(&[("a", std::slice::from_ref(&r0))])).unwrap_err();
        assert!(e.message.contains("rows 1 of 2 are missing"), "{e}");
        let e = merge(&inputs(&[
            ("a", std::slice::from_ref(&r0)),
            ("b", &[r0.clone(), r1.clone()]),
        ]))
        .unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("b", 1), "{e}");
        assert!(e.message.contains("appears twice"), "{e}");
        let mut other = r1.clone();
        other.of = 5;
        let e = merge(&inputs(&[
            ("a", std::slice::from_ref(&r0)),
            ("b", &[other]),
        ]))
        .unwrap_err();
        assert!(e.message.contains("from another sweep (s, 5 rows"), "{e}");
        let mut other = r1.clone();
        other.sweep = "g".into();
        let e = merge(&inputs(&[
            ("a", std::slice::from_ref(&r0)),
            ("b", &[other]),
        ]))
        .unwrap_err();
        assert!(
            e.message.contains("sweep g) than a's (s, 2 rows, sweep f)"),
            "{e}"
        );
        let mut huge = r0.clone();
        huge.of = usize::MAX;
        let e = merge(&inputs(&[("a", &[huge])])).unwrap_err();
        assert!(e.message.contains("a sweep holds at most"), "{e}");
        let bad = vec![(
            "a".to_string(),
            format!("{}{{\"index\": 1,\n", json_lines(&[r0])),
        )];
        let e = merge(&bad).unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("a", 2), "{e}");
        assert!(e.message.starts_with("not a sweep row"), "{e}");
        assert!(
            merge(&[("a".into(), String::new())])
                .unwrap_err()
                .message
                .contains("no sweep rows")
        );
    }

    #[test]
    fn shards_split_the_runs_without_overlap() {
        let failures: Vec<crate::sweep::Failure> = (0..5)
            .map(|i| crate::sweep::Failure::Power(format!("n{i}")))
            .collect();
        let whole = crate::sweep::plan(&failures, 2, 1, None, "f");
        assert!(whole.iter().all(|r| r.sweep == "f"));
        let fp = |seed| crate::sweep::fingerprint(&["a"], &failures, 2, seed, None);
        assert_eq!(fp(1), fp(1));
        assert_ne!(fp(1), fp(2));
        assert_eq!(fp(1).len(), 16);
        assert_eq!(whole.len(), 10);
        let mut joined: Vec<(usize, u64)> = (0..3)
            .flat_map(|i| crate::sweep::plan(&failures, 2, 1, Some((i, 3)), "f"))
            .map(|r| (r.index, r.seed))
            .collect();
        joined.sort();
        let expect: Vec<(usize, u64)> = whole.iter().map(|r| (r.index, r.seed)).collect();
        assert_eq!(joined, expect);
    }
}
