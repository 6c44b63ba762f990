-- The day of creation becomes a token too: `_d<days since 2020-01-01>` (UTC, from 0).
--
-- A created-date range of up to two months is narrowed by its days
-- (`"_d2520" OR … OR "_d2550"`) instead of its months: a 30-day range crosses two month
-- tokens, and a list newest first walked every order of the later month made after the
-- range's end, checking each one's date on the order row (10–16 ms at 1,000,000 orders
-- for «created in a month» by number). With days, at most the orders of the edge days
-- outside the range (the local time zone's hours) are checked and skipped. Wider ranges
-- keep the month tokens of 0011; the exact range is still checked on the order row.
--
-- The search text changes, so the four indexes are built again here, in SQL, from the
-- texts already kept in `order_search` (which stay): in key order, as
-- orders::repo::index_many inserts. (Emptying `order_search` as 0011 did fires its delete
-- trigger once per order; at 1,000,000 orders that ran for more than ten minutes.)

drop view order_search_docs;

create view order_search_docs as
select
    o.order_id,
    s.body || ' _s' || o.status || ' _e' || o.legal_entity_id || ' _v' || o.service_id
        || ' _a' || coalesce(o.assignee_id, 0) || ' _p' || o.all_paid
        || case when o.refund_state is null then '' else ' _r' end
        || ' _m' || max(0, (cast(strftime('%Y', o.created_at, 'unixepoch') as integer) - 2020) * 12
            + cast(strftime('%m', o.created_at, 'unixepoch') as integer) - 1)
        || ' _d' || max(0, (o.created_at - 1577836800) / 86400) as doc,
    (min(max(o.created_at - 1577836800, 0), 8589934591) << 30) | o.order_id as key_created,
    (min(max(o.updated_at - 1577836800, 0), 8589934591) << 30) | o.order_id as key_updated,
    (min(max(o.total_kopecks, 0), 8589934591) << 30) | o.order_id as key_total
from orders o
join order_search s on s.order_id = o.order_id;

insert into orders_fts (orders_fts) values ('delete-all');
insert into orders_fts_created (orders_fts_created) values ('delete-all');
insert into orders_fts_updated (orders_fts_updated) values ('delete-all');
insert into orders_fts_total (orders_fts_total) values ('delete-all');

insert into orders_fts (rowid, body)
    select order_id, doc from order_search_docs order by order_id;
insert into orders_fts_created (rowid, body)
    select key_created, doc from order_search_docs order by key_created;
insert into orders_fts_updated (rowid, body)
    select key_updated, doc from order_search_docs order by key_updated;
insert into orders_fts_total (rowid, body)
    select key_total, doc from order_search_docs order by key_total;
