-- Plans of the staff list that do not depend on luck (or on statistics).
--
-- `orders_drafts (is_draft, created_by_staff_id, order_id)` drew every list query: its
-- equality on `is_draft = 0` looked selective to the planner, which then read all
-- orders through it and sorted them (a temp B-tree for ORDER BY; 140–208 ms at 1M orders
-- for the default page). Drafts are few and are only ever read as drafts, so the index
-- holds just them; the list then walks the rowid or a sort index in order and stops at
-- its page.
drop index orders_drafts;
create index orders_drafts on orders (order_id) where is_draft = 1;

-- Start-up checks the search index only above the last order it checked (every order is
-- indexed in the transaction that makes it), so it does not grow with the orders. A
-- migration that empties the index must also `delete from search_checked`.
create table search_checked (
    id integer primary key check (id = 1),
    through integer not null
);
