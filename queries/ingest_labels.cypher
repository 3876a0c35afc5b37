// Investigators' labels on merchants ('fraud' or 'legit'); the later row wins.
// $rows: [{id, label, source, ts_ms}]
UNWIND $rows AS r
MATCH (m:Merchant {id: r.id})
SET m.label = r.label,
    m.label_source = r.source,
    m.label_ts = CASE WHEN r.ts_ms IS NULL THEN null ELSE datetime({epochMillis: r.ts_ms}) END
