import { test, expect } from "@playwright/test";
import { hydrated, open, signInStaff } from "./helpers";

test("an administrator switches a role's notifications per event and channel", async ({ page }) => {
  await signInStaff(page, "admin@demo.ru");
  await open(page, "/staff/admin/notifications");
  const role = page.locator('section[data-role="Диспетчер"]');
  const email = role.getByRole("checkbox", { name: "Новый заказ: E-mail" });
  const app = role.getByRole("checkbox", { name: "Оплата счета: В приложении" });
  await expect(email).not.toBeChecked();
  await expect(app).toBeChecked();
  await email.check();
  await app.uncheck();
  await role.getByRole("button", { name: "Сохранить" }).click();
  await expect(role.getByRole("status")).toHaveText("Сохранено");

  // Stored on the server: a fresh page shows the same switches.
  await page.reload();
  await hydrated(page);
  await expect(role.getByRole("checkbox", { name: "Новый заказ: E-mail" })).toBeChecked();
  await expect(role.getByRole("checkbox", { name: "Оплата счета: В приложении" })).not.toBeChecked();
});

test("the role editor is for administrators only", async ({ page }) => {
  await signInStaff(page, "dispatcher@demo.ru");
  await open(page, "/staff/admin/notifications");
  await expect(page.getByText("Недостаточно прав для этого действия")).toBeVisible();
  await expect(page.getByRole("checkbox")).toHaveCount(0);
});
