import { NOTIFICATION_TEMPLATES, NotificationChannel } from "../../lib/contracts/notifications";
import type { NotificationStatus, NotificationTemplate } from "../../lib/contracts/notifications";
import { pageParams } from "../../lib/pagination";

/**
 * Request schemas (fastest-validator), `$$strict: true`: a query parameter
 * not listed is a 400 naming it.
 */
export const NOTIFICATION_STATUSES: NotificationStatus[] = ["queued", "sending", "sent", "failed"];
const CHANNELS: NotificationChannel[] = ["email", "sms"];

export const listParams = {
  $$strict: true,
  status: { type: "enum", values: NOTIFICATION_STATUSES, optional: true },
  channel: { type: "enum", values: CHANNELS, optional: true },
  template: { type: "enum", values: [...NOTIFICATION_TEMPLATES], optional: true },
  userId: { type: "string", trim: true, min: 1, max: 64, optional: true },
  ...pageParams,
};
export interface ListParams {
  status?: NotificationStatus;
  channel?: NotificationChannel;
  template?: NotificationTemplate;
  userId?: string;
  page?: number;
  pageSize?: number;
}
