import { test, expect } from "@playwright/test";
import { hydrated, open, signInStaff, visitIn } from "./helpers";

test("an order made from a draft appears in the list", async ({ page }) => {
  await signInStaff(page, "dispatcher@demo.ru");
  await open(page, "/staff/orders/new");
  await page.getByLabel("Телефон или ФИО клиента").fill("лебедева");
  await page.getByRole("button", { name: "Найти" }).click();
  await page.getByRole("button", { name: /Лебедева Ольга Дмитриевна/ }).click();
  await page.locator("section", { hasText: "Услуга" }).getByRole("combobox").first().selectOption({ label: "Мойка окон" });
  await page.getByRole("button", { name: "Сохранить черновик" }).click();
  await expect(page).toHaveURL(/draft=\d+/);
  await expect(page.getByRole("heading", { name: /Черновик № \d+/ })).toBeVisible();
  const draft = new URL(page.url()).searchParams.get("draft")!;

  // Submitting checks the form with the same rules as the server.
  await hydrated(page);
  await page.getByRole("button", { name: "Оформить заказ" }).click();
  await expect(page.locator("[data-field=windows] .field-error")).toHaveText("Заполните это поле");
  await page.locator("[data-field=windows] input").fill("3");
  await page.locator("[data-field=visit] input").fill(visitIn(3, "11:00"));
  await page.getByRole("button", { name: "Оформить заказ" }).click();
  await expect(page).toHaveURL(new RegExp(`/staff/orders/${draft}$`));
  await expect(page.locator("h1 .status")).toHaveText("Ожидание");
  await expect(page.getByText("Количество окон")).toBeVisible();

  await open(page, "/staff/orders?q=лебедева");
  await expect(page.locator(`tr[data-order="${draft}"]`)).toBeVisible();
});
