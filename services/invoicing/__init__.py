"""The invoice desk's logic, a module a concern:

- `desk`: an invoice's life from the user's draft to an open receivable: numbering in
  the user's series, sending, the staff's forwarding by delivery method, corrections,
  payments recorded;
- `reference`: Finnish and RF creditor references;
- `bankbarcode`: the bank barcode (virtuaaliviivakoodi) of a printed invoice;
- `invoice_pdf`: the invoice as PDF, for the print service and the user;
- `finvoice`: the Finvoice 3.0 message of an e-invoice, validated against its schema;
- `print_service` and `einvoice_operator`: the clients of the two outside services that
  forward invoices (their sandboxes are in `sandboxes/`);
- `forwarding_errors`: what a forwarding that failed tells staff;
- `camt` and `bank`: the bank's files of incoming payments (camt.054, camt.053) read, and
  each payment booked on the invoice its reference names or left to staff.

Import the module you need: `from services.invoicing import desk as invoicing`."""
