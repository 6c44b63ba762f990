//! Roles and permissions (seed §1): the one check used by every server function and by the
//! UI to hide or grey out what the server would refuse.

use serde::{Deserialize, Serialize};

/// Which orders a role sees in «Заказы».
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrdersScope {
    /// No «Заказы» section.
    None,
    /// Only «Назначенные мне».
    Assigned,
    /// «Все» (and «Назначенные мне»).
    All,
}

impl OrdersScope {
    pub fn as_db(self) -> &'static str {
        match self {
            OrdersScope::None => "none",
            OrdersScope::Assigned => "assigned",
            OrdersScope::All => "all",
        }
    }

    pub fn from_db(s: &str) -> OrdersScope {
        match s {
            "all" => OrdersScope::All,
            "assigned" => OrdersScope::Assigned,
            _ => OrdersScope::None,
        }
    }
}

/// The switches of a role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permissions {
    pub orders: OrdersScope,
    /// «Заказы: редактирование»
    pub orders_edit: bool,
    /// «Чат с клиентами» (pre-order chats)
    pub clients_chat: bool,
    /// «Финансы»
    pub finance: bool,
    /// Manages roles, staff, services and the catalog.
    pub admin: bool,
}

/// Something a staff member may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// «Заказы» → «Все»
    ViewAllOrders,
    /// «Заказы» → «Назначенные мне»
    ViewAssignedOrders,
    /// Change status or assignee, invoices, chat, files, comments.
    EditOrders,
    ClientsChat,
    Finance,
    Administer,
}

impl Permissions {
    pub fn allows(&self, action: Action) -> bool {
        match action {
            Action::ViewAllOrders => self.orders == OrdersScope::All,
            Action::ViewAssignedOrders => self.orders != OrdersScope::None,
            Action::EditOrders => self.orders != OrdersScope::None && self.orders_edit,
            Action::ClientsChat => self.clients_chat,
            Action::Finance => self.finance,
            Action::Administer => self.admin,
        }
    }

    /// May this staff member (`me`) see an order assigned to `assignee`?
    pub fn can_see_order(&self, me: i64, assignee: Option<i64>) -> bool {
        match self.orders {
            OrdersScope::All => true,
            OrdersScope::Assigned => assignee == Some(me),
            OrdersScope::None => false,
        }
    }

    /// May this staff member change an order assigned to `assignee`?
    pub fn can_edit_order(&self, me: i64, assignee: Option<i64>) -> bool {
        self.orders_edit && self.can_see_order(me, assignee)
    }

    /// Where a staff member lands after sign-in.
    pub fn home_path(&self) -> &'static str {
        if self.allows(Action::ViewAllOrders) {
            "/staff/orders"
        } else if self.allows(Action::ViewAssignedOrders) {
            "/staff/orders/mine"
        } else if self.finance {
            "/staff/finance"
        } else if self.admin {
            "/staff/admin"
        } else {
            "/staff/profile"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(orders: OrdersScope, edit: bool) -> Permissions {
        Permissions {
            orders,
            orders_edit: edit,
            clients_chat: false,
            finance: false,
            admin: false,
        }
    }

    #[test]
    fn all_orders_role_sees_everything() {
        let p = role(OrdersScope::All, false);
        assert!(p.allows(Action::ViewAllOrders));
        assert!(p.allows(Action::ViewAssignedOrders));
        assert!(p.can_see_order(1, Some(2)));
        assert!(p.can_see_order(1, None));
        assert!(!p.allows(Action::EditOrders), "viewer cannot edit");
        assert!(!p.can_edit_order(1, Some(1)));
    }

    #[test]
    fn assigned_only_role_sees_only_its_orders() {
        let p = role(OrdersScope::Assigned, true);
        assert!(!p.allows(Action::ViewAllOrders));
        assert!(p.allows(Action::ViewAssignedOrders));
        assert!(p.can_see_order(7, Some(7)));
        assert!(!p.can_see_order(7, Some(8)));
        assert!(!p.can_see_order(7, None));
        assert!(p.can_edit_order(7, Some(7)));
        assert!(!p.can_edit_order(7, Some(8)));
        assert_eq!(p.home_path(), "/staff/orders/mine");
    }

    #[test]
    fn no_orders_section_means_no_orders_and_no_editing() {
        let p = Permissions {
            orders: OrdersScope::None,
            orders_edit: true,
            clients_chat: true,
            finance: true,
            admin: false,
        };
        assert!(!p.allows(Action::ViewAssignedOrders));
        assert!(
            !p.allows(Action::EditOrders),
            "edit switch alone does not open orders"
        );
        assert!(!p.can_see_order(1, Some(1)));
        assert!(p.allows(Action::Finance));
        assert!(p.allows(Action::ClientsChat));
        assert!(!p.allows(Action::Administer));
        assert_eq!(p.home_path(), "/staff/finance");
    }

    #[test]
    fn scope_round_trips_through_the_database_spelling() {
        for s in [OrdersScope::None, OrdersScope::Assigned, OrdersScope::All] {
            assert_eq!(OrdersScope::from_db(s.as_db()), s);
        }
    }
}
