"""Online payment through the payment service's channel interface, in four modules:

- `links`: the pay links of invoices and course fees (the mail of both parts carries them);
- `attempts`: a payment attempt, the service's answers, and what a paid one pays;
- `refunds`: course fees owed back, and staff recording them refunded;
- `channel`: the channel interface's messages, built and verified;
- `methods`: the payment methods by the service's codes and names.

Import the module you need; this package imports none of them, so that the invoice desk
and the training calendar use `links` and `refunds` without the attempts, which build on
them both."""
