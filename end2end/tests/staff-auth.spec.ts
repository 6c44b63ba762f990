import { test, expect } from "@playwright/test";
import { hydrated, open, signInStaff } from "./helpers";

test("a visitor is sent to sign in and comes back to the page asked for", async ({ page }) => {
  await page.goto("/staff/orders/mine");
  await expect(page).toHaveURL(/\/staff\/login\?next=/);
  await hydrated(page);
  await page.getByLabel("E-mail").fill("dispatcher@demo.ru");
  await page.getByLabel("Пароль").fill("demo12345");
  await page.getByRole("button", { name: "Войти" }).click();
  await expect(page).toHaveURL(/\/staff\/orders\/mine$/);
  await expect(page.getByRole("heading", { name: "Заказы — назначенные мне" })).toBeVisible();
});

test("staff signs in and reaches «Заказы»", async ({ page }) => {
  await signInStaff(page, "dispatcher@demo.ru");
  await expect(page).toHaveURL(/\/staff\/orders$/);
  await expect(page.getByRole("heading", { name: "Заказы — все" })).toBeVisible();
  const nav = page.locator("nav");
  await expect(nav.getByText("Заказы", { exact: true })).toBeVisible();
  await expect(nav.getByRole("link", { name: "Все" })).toBeVisible();
  await expect(nav.getByRole("link", { name: "Назначенные мне" })).toBeVisible();
  // The dispatcher's role has no finance switch: the section is not offered.
  await expect(nav.getByRole("link", { name: "Взаиморасчеты" })).toHaveCount(0);
  await expect(page.locator("table.grid tbody tr")).toHaveCount(50);
});

test("a wrong password is refused with a message", async ({ page }) => {
  await signInStaff(page, "viewer@demo.ru", "wrong-password");
  await expect(page.getByRole("alert")).toHaveText("Неверный e-mail или пароль");
  await expect(page).toHaveURL(/\/staff\/login/);
});

test("the page is interactive after hydration", async ({ page }) => {
  await open(page, "/staff/login");
  const password = page.getByLabel("Пароль");
  await expect(password).toHaveAttribute("type", "password");
  // Only the hydrated wasm app reacts to this button; the server's HTML alone cannot.
  await page.getByRole("button", { name: "Показать" }).click();
  await expect(password).toHaveAttribute("type", "text");
  await page.getByRole("button", { name: "Скрыть" }).click();
  await expect(password).toHaveAttribute("type", "password");
});

test("a contractor sees only «Назначенные мне» and is refused «Все»", async ({ page }) => {
  await signInStaff(page, "master@demo.ru");
  await expect(page).toHaveURL(/\/staff\/orders\/mine$/);
  const nav = page.locator("nav");
  await expect(nav.getByRole("link", { name: "Назначенные мне" })).toBeVisible();
  await expect(nav.getByRole("link", { name: "Все" })).toHaveCount(0);
  const rows = page.locator("table.grid tbody tr");
  expect(await rows.count()).toBeGreaterThan(0);
  await page.goto("/staff/orders");
  await expect(page.getByRole("alert")).toContainText("Недостаточно прав");
});

test("sign-out ends the session", async ({ page }) => {
  await signInStaff(page, "accountant@demo.ru");
  await expect(page).toHaveURL(/\/staff\/finance$/);
  await page.getByRole("button", { name: "Выйти" }).click();
  await expect(page).toHaveURL(/\/staff\/login$/);
  await page.goto("/staff/finance");
  await expect(page).toHaveURL(/\/staff\/login\?next=/);
});
