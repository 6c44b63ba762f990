-- Two kinds of filter the full-text indexes could not narrow by themselves.
--
-- Service names leave the indexed text. A search word that is in a service's name is
-- turned, at query time, into that service's token (`"word"* OR "_v<id>"`,
-- orders::repo::SearchContext) — restricted first by the list's own legal entity and
-- service filters. A word of one partner's service names searched with another legal
-- entity's filter was an empty intersection of two long lists that FTS5 walked in full
-- (64 ms at 1,000,000 orders); it is now a word that matches no text at all. A service's
-- rename no longer re-indexes its orders.
--
-- The month of creation becomes a token: `_m<months since 2020-01>` (UTC, from 0). A
-- created-date range in a sort other than by creation adds its months as alternatives
-- (`"_m82" OR "_m83"`), so FTS5 skips the matches of other months instead of the list
-- checking each one's date (96 ms for one month sorted by «Сумма»); the exact range is
-- still checked on the order row.
--
-- The search text changes, so it is built again: the indexes are emptied here and
-- orders::repo::index_missing indexes every order at the next start, in bulk.

drop view order_search_docs;

create view order_search_docs as
select
    o.order_id,
    s.body || ' _s' || o.status || ' _e' || o.legal_entity_id || ' _v' || o.service_id
        || ' _a' || coalesce(o.assignee_id, 0) || ' _p' || o.all_paid
        || case when o.refund_state is null then '' else ' _r' end
        || ' _m' || max(0, (cast(strftime('%Y', o.created_at, 'unixepoch') as integer) - 2020) * 12
            + cast(strftime('%m', o.created_at, 'unixepoch') as integer) - 1) as doc,
    (min(max(o.created_at - 1577836800, 0), 8589934591) << 30) | o.order_id as key_created,
    (min(max(o.updated_at - 1577836800, 0), 8589934591) << 30) | o.order_id as key_updated,
    (min(max(o.total_kopecks, 0), 8589934591) << 30) | o.order_id as key_total
from orders o
join order_search s on s.order_id = o.order_id;

insert into orders_fts (orders_fts) values ('delete-all');
insert into orders_fts_created (orders_fts_created) values ('delete-all');
insert into orders_fts_updated (orders_fts_updated) values ('delete-all');
insert into orders_fts_total (orders_fts_total) values ('delete-all');

-- The old texts go without their (already emptied) index entries; the trigger as in 0010.
drop trigger order_search_delete;
delete from order_search;
create trigger order_search_delete before delete on order_search
begin
    delete from orders_fts where rowid = old.order_id;
    delete from orders_fts_created
        where rowid = (select key_created from order_search_docs where order_id = old.order_id);
    delete from orders_fts_updated
        where rowid = (select key_updated from order_search_docs where order_id = old.order_id);
    delete from orders_fts_total
        where rowid = (select key_total from order_search_docs where order_id = old.order_id);
end;
