import { test, expect, Page } from "@playwright/test";
import { hydrated, open, paidKeys, residentPage, signInStaff } from "./helpers";

// The sandbox registers a receipt a few seconds after the payment, then notifies the app.
test.describe.configure({ timeout: 60_000 });

/** Reloads the order card until its «Чеки» block shows a registered receipt of `kind`. */
async function waitRegistered(page: Page, number: string, kind: RegExp) {
  await expect(async () => {
    await open(page, `/staff/orders/${number}`);
    const receipt = page.getByTestId("receipts").locator("li.receipt", { hasText: kind });
    await expect(receipt).toContainText("Зарегистрирован", { timeout: 1_000 });
  }).toPass({ timeout: 30_000 });
}

test("a prepaid order's receipts: «Предоплата 100%» on the card and for the resident, «Полный расчет» once done", async ({ page, browser }) => {
  const resident = await residentPage(browser, "+79000000004");
  const number = await paidKeys(resident.page, "receipts@example.ru");

  await signInStaff(page, "dispatcher@demo.ru");
  await waitRegistered(page, number, /Предоплата 100%/);
  const block = page.getByTestId("receipts");
  await expect(block.getByRole("heading", { name: "Чеки" })).toBeVisible();
  const prepayment = block.locator("li.receipt", { hasText: "Предоплата 100%" });
  await expect(prepayment).toContainText(/1\s200,00\s₽/);
  await expect(prepayment).toContainText("ФН");
  await expect(prepayment).toContainText("Ключ от домофона");
  const link = prepayment.getByRole("link", { name: "Открыть чек" });
  await expect(link).toHaveAttribute("href", /\/sandbox\/receipts\/rct_/);

  // The resident sees a link to the registered receipt, and it opens the receipt.
  await open(resident.page, `/requests/${number}`);
  const receiptLink = resident.page.locator("section.receipts").getByRole("link", { name: "Чек" });
  await expect(receiptLink).toHaveCount(1);
  const href = await receiptLink.getAttribute("href");
  expect(href).toMatch(/\/sandbox\/receipts\/rct_/);
  const shown = await resident.page.request.get(href!);
  expect(shown.status()).toBe(200);
  expect(await shown.text()).toContain("Кассовый чек");

  // «Выполнено»: the «Полный расчет» offsetting the prepayment follows by itself.
  await hydrated(page);
  const form = page.locator("form", { has: page.getByRole("button", { name: "Сохранить" }) });
  await form.getByLabel("Статус").selectOption({ label: "Выполнено" });
  await form.getByRole("button", { name: "Сохранить" }).click();
  await expect(page.getByRole("heading", { name: new RegExp(`Заказ № ${number}`) })).toContainText("Выполнено");
  await waitRegistered(page, number, /Полный расчет/);
  await expect(page.getByTestId("receipts").locator("li.receipt")).toHaveCount(2);

  await open(resident.page, `/requests/${number}`);
  await expect(resident.page.locator("section.receipts").getByRole("link", { name: "Чек" })).toHaveCount(2);
  await resident.ctx.close();
});
