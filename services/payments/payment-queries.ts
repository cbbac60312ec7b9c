import type { Receipt } from "../../lib/contracts/orders";
import { AppError } from "../../lib/errors";
import { PaymentView, toView } from "./domain/payment";
import type { PaymentsRepository } from "./payments-repository";

/**
 * Reads with object-level authorization: a payment or receipt that is not
 * the caller's reads exactly like one that does not exist (404), so ids of
 * other people's payments cannot be probed. Admins may read any payment.
 */
export interface Caller {
  id: string;
  role: string;
}

export class PaymentQueries {
  constructor(private readonly repository: PaymentsRepository) {}

  /** `id`: the payment's id, or its order's id. */
  async view(id: string, caller: Caller): Promise<PaymentView> {
    const payment = await this.repository.findByIdOrOrderId(id);
    if (!payment || (caller.role !== "admin" && payment.userId !== caller.id))
      throw AppError.notFound("Payment");
    const receipt = await this.repository.findReceiptByOrderId(payment.orderId);
    return toView(payment, receipt);
  }

  async receipt(orderId: string, userId: string): Promise<Receipt> {
    const receipt = await this.repository.findReceiptByOrderId(orderId);
    if (!receipt || receipt.userId !== userId) throw AppError.notFound("Receipt");
    return receipt;
  }
}
