import { test, expect, Page, Browser, BrowserContext } from "@playwright/test";
import { hydrated, open, signInResident, signInStaff, visitIn } from "./helpers";

async function residentPage(browser: Browser, phone: string): Promise<{ ctx: BrowserContext; page: Page }> {
  const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, locale: "ru-RU" });
  const page = await ctx.newPage();
  await signInResident(page, phone);
  return { ctx, page };
}

/** Waits until the page's live connection is open. */
async function live(page: Page) {
  await hydrated(page);
  await page.locator('body[data-live="open"]').waitFor({ state: "attached" });
}

async function staffPage(browser: Browser, email: string): Promise<Page> {
  const ctx = await browser.newContext({ locale: "ru-RU" });
  const page = await ctx.newPage();
  await signInStaff(page, email);
  return page;
}

test("order chat: messages both ways live, the list counter rises and falls, a notification opens the request", async ({ page, browser }) => {
  const resident = await residentPage(browser, "+79000000003");
  await open(resident.page, "/requests");
  const first = resident.page.locator("a.request").first();
  const number = (await first.getAttribute("href"))!.match(/\/requests\/(\d+)/)![1];

  // Staff watch the list filtered to this order.
  await signInStaff(page, "dispatcher@demo.ru");
  await open(page, `/staff/orders?q=${number}`);
  await live(page);
  const row = page.locator(`tr[data-order="${number}"]`);
  await expect(row).toBeVisible();
  await expect(row.locator(".badge")).toHaveCount(0);

  await open(resident.page, `/requests/${number}`);
  await live(resident.page);
  await resident.page.getByRole("textbox", { name: "Сообщение" }).fill("Когда придёт мастер? <b>срочно</b>");
  await resident.page.getByRole("button", { name: "Отправить сообщение" }).click();
  await expect(resident.page.locator(".bubble.mine")).toContainText("Когда придёт мастер? <b>срочно</b>");

  // The staff list counts it without a reload.
  await expect(row.locator(".badge")).toHaveText("1");

  // Staff open the card: the message is there (as text, not markup) and is read.
  await open(page, `/staff/orders/${number}`);
  await live(page);
  const chat = page.locator(".chat");
  await expect(chat.locator(".bubble.client")).toContainText("Когда придёт мастер? <b>срочно</b>");
  await chat.getByRole("textbox", { name: "Сообщение" }).fill("Завтра с 10 до 12");
  await chat.getByRole("button", { name: "Отправить сообщение" }).click();
  await expect(chat.locator(".bubble.mine")).toContainText("Завтра с 10 до 12");

  // The resident sees the reply live, and a notification (the bell counts it).
  await expect(resident.page.locator(".bubble.staff")).toContainText("Завтра с 10 до 12");
  await expect(resident.page.getByTestId("bell-count")).toBeVisible({ timeout: 15_000 });

  // Back in the list the counter is gone.
  await open(page, `/staff/orders?q=${number}`);
  await expect(row).toBeVisible();
  await expect(row.locator(".badge")).toHaveCount(0);

  // The notification opens the request.
  await resident.page.goto("/requests");
  await open(resident.page, "/notifications");
  await resident.page.getByRole("link", { name: new RegExp(`Заявка № ${number}: новое сообщение`) }).first().click();
  await expect(resident.page).toHaveURL(new RegExp(`/requests/${number}$`));
  await resident.ctx.close();
});

test("a status change appears live in an open card and in the resident's request", async ({ page, browser }) => {
  const resident = await residentPage(browser, "+79000000003");
  // A fresh request («Ожидание»).
  await open(resident.page, "/?q=мойка окон");
  await resident.page.getByRole("link", { name: /Мойка окон/ }).click();
  await hydrated(resident.page);
  await resident.page.locator('[data-field="windows"] input').fill("4");
  await resident.page.locator('[data-field="visit"] input').fill(visitIn(7));
  await resident.page.getByRole("button", { name: "Отправить заявку" }).click();
  await expect(resident.page).toHaveURL(/\/requests\/\d+$/);
  const number = resident.page.url().match(/\/requests\/(\d+)$/)![1];
  await live(resident.page);
  await expect(resident.page.getByTestId("request-status")).toHaveText("Ожидание");

  // A colleague has the card open.
  const colleague = await staffPage(browser, "admin@demo.ru");
  await open(colleague, `/staff/orders/${number}`);
  await live(colleague);
  await expect(colleague.locator("h1 .status")).toHaveText("Ожидание");

  await signInStaff(page, "dispatcher@demo.ru");
  await open(page, `/staff/orders/${number}`);
  const form = page.locator("form", { has: page.getByRole("button", { name: "Сохранить" }) });
  await form.getByLabel("Статус").selectOption({ label: "В работе" });
  await form.getByRole("button", { name: "Сохранить" }).click();
  await expect(page.locator("h1 .status")).toHaveText("В работе");

  await expect(colleague.locator("h1 .status")).toHaveText("В работе");
  await expect(resident.page.getByTestId("request-status")).toHaveText("В работе");
  await resident.ctx.close();
  await colleague.context().close();
});

test("a pre-order chat becomes an order", async ({ page, browser }) => {
  const resident = await residentPage(browser, "+79000000003");
  await open(resident.page, "/?q=уборка после");
  await resident.page.getByRole("link", { name: /Уборка после ремонта/ }).click();
  await hydrated(resident.page);
  await resident.page.getByRole("button", { name: "Задать вопрос оператору" }).click();
  await expect(resident.page).toHaveURL(/\/chats\/\d+$/);
  await live(resident.page);
  await resident.page.getByRole("textbox", { name: "Сообщение" }).fill("Сколько стоит уборка 40 м²?");
  await resident.page.getByRole("button", { name: "Отправить сообщение" }).click();
  await expect(resident.page.locator(".bubble.mine")).toContainText("Сколько стоит уборка 40 м²?");

  await signInStaff(page, "dispatcher@demo.ru");
  await open(page, "/staff/chats");
  await page.locator("tr", { hasText: "Уборка после ремонта" }).first().getByRole("link").click();
  await live(page);
  await expect(page.locator(".bubble.client")).toContainText("Сколько стоит уборка 40 м²?");
  await page.getByRole("textbox", { name: "Сообщение" }).fill("От 3 000 ₽, оформляю заказ");
  await page.getByRole("button", { name: "Отправить сообщение" }).click();
  await expect(resident.page.locator(".bubble.staff")).toContainText("От 3 000 ₽, оформляю заказ");

  await page.getByRole("button", { name: "Оформить заказ" }).click();
  await expect(page).toHaveURL(/\/staff\/orders\/new\?draft=\d+$/);
  const draft = new URL(page.url()).searchParams.get("draft")!;
  await hydrated(page);
  await page.locator("[data-field=area] input").fill("40");
  await page.locator("[data-field=visit] input").fill(visitIn(8));
  await page.getByRole("button", { name: "Оформить заказ" }).click();
  await expect(page).toHaveURL(new RegExp(`/staff/orders/${draft}$`));
  // The dialogue is the order's chat now.
  await expect(page.locator(".chat .bubble.client")).toContainText("Сколько стоит уборка 40 м²?");

  // The resident's dialogue leads to the new request.
  await expect(resident.page.getByRole("link", { name: `№ ${draft}` })).toBeVisible();
  await resident.page.getByRole("link", { name: `№ ${draft}` }).click();
  await expect(resident.page).toHaveURL(new RegExp(`/requests/${draft}$`));
  await expect(resident.page.locator(".bubble.staff")).toContainText("От 3 000 ₽, оформляю заказ");
  await resident.ctx.close();
});
