-- Orders that staff create for a resident start as drafts; who created them.
alter table orders add column created_by_staff_id integer references staff (staff_id);
create index orders_drafts on orders (is_draft, created_by_staff_id, order_id);
