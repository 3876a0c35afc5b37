// A job's lock (null when never taken), and the seconds since its holder's last
// heartbeat (null when nobody holds it).
// $name: the lock's name
OPTIONAL MATCH (l:JobLock {id: $name})
RETURN l {.*} AS lock,
       CASE WHEN l.heartbeat IS NULL THEN null
            ELSE duration.inSeconds(l.heartbeat, datetime()).seconds END AS idle_seconds
