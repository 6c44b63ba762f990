import { test, expect } from "@playwright/test";
import { hydrated, open, residentPage, signInStaff, watchForCrashes } from "./helpers";

// A resident on a phone pays a prepaid request by СБП: the method is chosen on the payment
// screen (by keyboard), the card's choices go away, the sandbox's СБП page offers its test
// banks, and the invoice is paid; staff see it paid through СБП.
test("a resident pays by СБП on a phone and the invoice is paid", async ({ browser, page }) => {
  const resident = await residentPage(browser, "+79000000002");
  const r = resident.page;
  const crashes = watchForCrashes(r);
  await open(r, "/?q=домофон");
  await r.getByRole("link", { name: /Изготовление ключа от домофона/ }).click();
  await hydrated(r);
  await r.locator('[data-field="count"] input').fill("1");
  await r.getByRole("button", { name: "Отправить заявку" }).click();
  await expect(r).toHaveURL(/\/requests\/\d+\/pay\/\d+$/);
  const number = r.url().match(/\/requests\/(\d+)\/pay/)![1];
  await hydrated(r);
  await r.getByLabel("E-mail для чека").fill("sbp@example.ru");

  const card = r.getByRole("radio", { name: "Банковская карта" });
  const sbp = r.getByRole("radio", { name: "СБП" });
  await expect(card).toBeChecked();
  await expect(r.getByLabel("Сохранить карту")).toBeVisible();
  // Arrow keys move between the methods, as radios do.
  await card.focus();
  await r.keyboard.press("ArrowDown");
  await expect(sbp).toBeChecked();
  await expect(r.getByLabel("Сохранить карту")).toBeHidden();
  await expect(r.getByRole("radio", { name: "Новая карта" })).toBeHidden();
  await expect(r.getByText("Откроется страница СБП")).toBeVisible();

  await r.getByRole("button", { name: "Перейти к оплате" }).click();
  await expect(r).toHaveURL(/\/sandbox\/sbp\//);
  await expect(r.getByTestId("sbp-payload")).toBeVisible();
  await expect(r.getByRole("button", { name: "Т-Банк — отклонить" })).toBeVisible();
  await r.getByRole("button", { name: "Сбербанк — оплатить" }).click();

  await expect(r).toHaveURL(new RegExp(`/requests/${number}\\?payment=\\d+`));
  await expect(r.getByTestId("payment-result")).toContainText("Оплата прошла", { timeout: 20_000 });
  await expect(r.locator("li.invoice")).toContainText("Оплачено");
  await expect(r.getByRole("link", { name: "Оплатить" })).toHaveCount(0);
  await expect(r.getByText("Счёт оплачен через СБП")).toBeVisible();
  expect(crashes).toEqual([]);
  await resident.ctx.close();

  await signInStaff(page, "dispatcher@demo.ru");
  await open(page, `/staff/orders/${number}`);
  await expect(page.locator("[data-invoice]").first()).toContainText("Оплачен через СБП");
});
