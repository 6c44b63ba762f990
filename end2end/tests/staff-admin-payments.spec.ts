import { test, expect } from "@playwright/test";
import { open, signInStaff, watchForCrashes } from "./helpers";

// A new partner (so the demo partners keep paying through the sandbox for the other
// tests) gets a Т-Банк terminal: the password is shown back only as «Задан», with the
// notification URL to paste into Т-Банк's dashboard; «Отключить» returns it to the sandbox.
test("an administrator sets up Т-Банк for a partner and sees «Задан» and the notification URL", async ({ page }) => {
  const crashes = watchForCrashes(page);
  await signInStaff(page, "admin@demo.ru");
  await open(page, "/staff/admin/entities");
  await expect(page.locator('section[data-section="vat-rates"] tr[data-vat="vat22"]')).toContainText("действует");
  await expect(page.locator('section[data-section="vat-rates"] tr[data-vat="vat20"]')).toContainText("не действует");
  const name = `ООО «Терминал e2e ${Date.now() % 100000}»`;
  await page.getByLabel("Название").fill(name);
  await page.getByRole("button", { name: "Добавить" }).click();
  await page.getByRole("link", { name }).click();
  await expect(page.getByRole("heading", { name })).toBeVisible();

  const section = page.locator('section[data-section="payment-account"]');
  await expect(section.locator('[data-account="none"]')).toContainText("песочницу");
  const form = section.locator('form[data-form="payment-account"]');
  await form.getByLabel("Провайдер").selectOption({ label: "Т-Банк" });
  await form.getByLabel("TerminalKey").fill("1700000000001DEMO");
  await form.getByLabel("Пароль терминала").fill("e2e-terminal-password");
  await expect(form.getByLabel("Сети уведомлений ЮKassa (необязательно)")).toHaveCount(0);
  const saved = page.waitForResponse((r) => r.url().includes("/api/admin_save_payment_account"));
  await form.getByRole("button", { name: "Сохранить" }).click();
  const reply = await saved;
  expect(reply.status()).toBe(200);
  expect(await reply.text()).not.toContain("e2e-terminal-password");

  const facts = section.locator("dl.facts");
  await expect(facts).toContainText("Т-Банк");
  await expect(facts).toContainText("1700000000001DEMO");
  await expect(facts.locator("dd[data-secret]")).toHaveText("Задан");
  await expect(section.getByLabel("Адрес для уведомлений")).toHaveValue(/^https?:\/\/[^/]+\/payments\/webhook\/\d+$/);
  await expect(page.locator("body")).not.toContainText("e2e-terminal-password");

  // After a reload too: the password never comes back.
  await page.reload();
  await expect(section.locator("dd[data-secret]")).toHaveText("Задан");
  expect(await page.content()).not.toContain("e2e-terminal-password");

  await section.getByRole("button", { name: "Отключить" }).click();
  await expect(section.locator('[data-account="none"]')).toContainText("песочницу");
  await expect(section.locator("details summary")).toContainText("Прежние настройки: 1");
  // The page loaded afresh hydrates (its settings load with the page, not in a Suspense
  // of their own).
  expect(crashes).toEqual([]);
});
