-- Full-text search in every sort order of the staff list.
--
-- FTS5 returns matches in rowid order for free, so a search sorted by number reads only
-- the rows of its page. For the other sorts the same index is kept once more per sort,
-- with the rowid made of the sort value and the number:
--     rowid = (value << 30) | order_id          (order_id < 2^30, value in 0 .. 2^33)
-- total: kopecks (up to 85,899,345.91 ₽); created / updated: seconds since 2020-01-01
-- UTC. Values outside are clamped (such orders then sort among themselves by number).
-- The Rust side (orders::repo::sort_key) uses the same formula for page cursors.
--
-- The filters a list combines with a search are tokens of the indexed text, so FTS5
-- intersects them itself instead of skipping rows one by one (a status that is rare
-- among the top of a sort — waiting orders have no total — would otherwise walk the
-- whole match list): `_s<status> _e<legal entity> _v<service> _a<assignee or 0>
-- _p<all paid 0/1>` and `_r` when the order has a refund. Search terms are letters and
-- digits only, so they never match these tokens.
--
-- Prefix indexes up to 8 characters: a query word is a prefix ("семенов"* finds «Семёнова»),
-- and FTS5 answers a prefix longer than its longest prefix index by merging the lists of
-- every word that starts with it (a 7-letter surname: ~8 ms at 1M orders; with the index,
-- one list read lazily).
--
-- The text itself (number, service, client, address; lower-cased, «ё» → «е», by
-- search::normalize in Rust) lives in order_search; triggers keep the four indexes equal
-- to it and to the order's columns, whoever changes them.

drop table orders_fts;

create table order_search (
    order_id integer primary key references orders (order_id),
    body text not null
);

create virtual table orders_fts using fts5 (
    body, content = '', contentless_delete = 1,
    tokenize = "unicode61 remove_diacritics 2 tokenchars '_'", prefix = '2 3 4 5 6 7 8'
);
create virtual table orders_fts_created using fts5 (
    body, content = '', contentless_delete = 1,
    tokenize = "unicode61 remove_diacritics 2 tokenchars '_'", prefix = '2 3 4 5 6 7 8'
);
create virtual table orders_fts_updated using fts5 (
    body, content = '', contentless_delete = 1,
    tokenize = "unicode61 remove_diacritics 2 tokenchars '_'", prefix = '2 3 4 5 6 7 8'
);
create virtual table orders_fts_total using fts5 (
    body, content = '', contentless_delete = 1,
    tokenize = "unicode61 remove_diacritics 2 tokenchars '_'", prefix = '2 3 4 5 6 7 8'
);

-- What each index holds for an order: its text with the filter tokens, and its keys.
create view order_search_docs as
select
    o.order_id,
    s.body || ' _s' || o.status || ' _e' || o.legal_entity_id || ' _v' || o.service_id
        || ' _a' || coalesce(o.assignee_id, 0) || ' _p' || o.all_paid
        || case when o.refund_state is null then '' else ' _r' end as doc,
    (min(max(o.created_at - 1577836800, 0), 8589934591) << 30) | o.order_id as key_created,
    (min(max(o.updated_at - 1577836800, 0), 8589934591) << 30) | o.order_id as key_updated,
    (min(max(o.total_kopecks, 0), 8589934591) << 30) | o.order_id as key_total
from orders o
join order_search s on s.order_id = o.order_id;

create trigger order_search_insert after insert on order_search
begin
    insert into orders_fts (rowid, body)
        select order_id, doc from order_search_docs where order_id = new.order_id;
    insert into orders_fts_created (rowid, body)
        select key_created, doc from order_search_docs where order_id = new.order_id;
    insert into orders_fts_updated (rowid, body)
        select key_updated, doc from order_search_docs where order_id = new.order_id;
    insert into orders_fts_total (rowid, body)
        select key_total, doc from order_search_docs where order_id = new.order_id;
end;

-- Before the row goes, while the view still sees it.
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

-- The text changes by delete + insert (orders::repo::index_order); never in place.
create trigger order_search_update before update on order_search
begin
    select raise(abort, 'order_search rows are replaced, not updated');
end;

-- A change of what the indexes hold: the old entries out (keys from the old values),
-- the new ones in.
create trigger orders_search_keys after update of
    status, legal_entity_id, service_id, assignee_id, all_paid, refund_state,
    created_at, updated_at, total_kopecks
on orders
when exists (select 1 from order_search where order_id = new.order_id)
    and (old.status is not new.status
        or old.legal_entity_id is not new.legal_entity_id
        or old.service_id is not new.service_id
        or old.assignee_id is not new.assignee_id
        or old.all_paid is not new.all_paid
        or (old.refund_state is null) <> (new.refund_state is null)
        or old.created_at is not new.created_at
        or old.updated_at is not new.updated_at
        or old.total_kopecks is not new.total_kopecks)
begin
    delete from orders_fts where rowid = old.order_id;
    delete from orders_fts_created
        where rowid = (min(max(old.created_at - 1577836800, 0), 8589934591) << 30) | old.order_id;
    delete from orders_fts_updated
        where rowid = (min(max(old.updated_at - 1577836800, 0), 8589934591) << 30) | old.order_id;
    delete from orders_fts_total
        where rowid = (min(max(old.total_kopecks, 0), 8589934591) << 30) | old.order_id;
    insert into orders_fts (rowid, body)
        select order_id, doc from order_search_docs where order_id = new.order_id;
    insert into orders_fts_created (rowid, body)
        select key_created, doc from order_search_docs where order_id = new.order_id;
    insert into orders_fts_updated (rowid, body)
        select key_updated, doc from order_search_docs where order_id = new.order_id;
    insert into orders_fts_total (rowid, body)
        select key_total, doc from order_search_docs where order_id = new.order_id;
end;
