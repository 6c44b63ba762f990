-- Limits on every write (issue 16 §4).

-- One stream of counted events for every limit (sign-in attempts, code requests, chat
-- messages, orders, uploads, exports, ...), keyed by rule and person or address. Replaces
-- `auth_attempts`, which counted sign-in only.
create table rate_events (
    rate_event_id integer primary key,
    event_key text not null,
    at integer not null
);
create index rate_events_key on rate_events (event_key, at);
insert into rate_events (event_key, at) select attempt_key, at from auth_attempts;
drop table auth_attempts;

-- «One running export per employee», held by the database even under parallel starts.
-- An export runs inside the process that started it; none is running while migrations run.
update exports set state = 'failed' where state = 'running';
create unique index exports_one_running on exports (staff_id) where state = 'running';
