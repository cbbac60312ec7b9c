/** Lists are `?page=&pageSize=` (pageSize ≤ 100) → `{ items, page, pageSize, total }` everywhere. */
export interface PageRequest {
  page?: number;
  pageSize?: number;
}

export interface PageOf<T> {
  items: T[];
  page: number;
  pageSize: number;
  total: number;
}

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;
/** Deeper pages are refused: offsets stay exact integers any database accepts (1e308 was a 500). */
export const MAX_PAGE = 100_000;

export function pageWindow(request: PageRequest): {
  page: number;
  pageSize: number;
  offset: number;
} {
  const page = Math.max(1, request.page ?? 1);
  const pageSize = Math.min(MAX_PAGE_SIZE, Math.max(1, request.pageSize ?? DEFAULT_PAGE_SIZE));
  return { page, pageSize, offset: (page - 1) * pageSize };
}

/** fastest-validator params for a paginated list (query strings are converted). */
export const pageParams = {
  page: { type: "number", integer: true, min: 1, max: MAX_PAGE, optional: true, convert: true },
  pageSize: {
    type: "number",
    integer: true,
    min: 1,
    max: MAX_PAGE_SIZE,
    optional: true,
    convert: true,
  },
} as const;
