'use strict';
// A shopping cart with discounts and a formatted receipt.

const TAX_RATE = 0.2;

class ShoppingCart {
  constructor(currency) {
    this.currency = currency;
    this.items = [];
  }

  addItem(name, price, quantity = 1) {
    const existing = this.items.find((item) => item.name === name);
    if (existing) {
      existing.quantity += quantity;
      return this;
    }
    this.items.push({ name, price, quantity });
    return this;
  }

  subtotal() {
    return this.items.reduce((sum, item) => sum + item.price * item.quantity, 0);
  }

  total(discount = 0) {
    const subtotal = this.subtotal();
    const discounted = subtotal * (1 - discount);
    return discounted * (1 + TAX_RATE);
  }

  receipt() {
    const lines = this.items.map((item) => `${item.quantity} x ${item.name}: ${item.price.toFixed(2)}`);
    lines.push(`total: ${this.total().toFixed(2)} ${this.currency}`);
    return lines.join('\n');
  }
}

function main() {
  const cart = new ShoppingCart('EUR');
  cart.addItem('apple', 0.5, 6).addItem('bread', 2.2).addItem('apple', 0.5, 2);
  console.log(cart.receipt());
}

module.exports = { ShoppingCart };

if (require.main === module) {
  main();
}
