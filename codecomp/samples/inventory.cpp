// A small inventory ledger: items, quantities and a running total.
#include <iostream>
#include <map>
#include <string>
#include <vector>

struct Item {
    std::string name;
    int quantity;
    double unitPrice;
};

class Inventory {
public:
    void addItem(const std::string& name, int quantity, double unitPrice) {
        auto it = itemsByName.find(name);
        if (it != itemsByName.end()) {
            items[it->second].quantity += quantity;
            return;
        }
        itemsByName[name] = items.size();
        items.push_back(Item{name, quantity, unitPrice});
    }

    double totalValue() const {
        double total = 0.0;
        for (const Item& item : items) {
            total += item.quantity * item.unitPrice;
        }
        return total;
    }

    std::vector<std::string> lowStock(int threshold) const {
        std::vector<std::string> result;
        for (const Item& item : items) {
            if (item.quantity < threshold) {
                result.push_back(item.name);
            }
        }
        return result;
    }

private:
    std::vector<Item> items;
    std::map<std::string, size_t> itemsByName;
};

int main() {
    Inventory inventory;
    inventory.addItem("bolt", 120, 0.05);
    inventory.addItem("nut", 8, 0.03);
    inventory.addItem("washer", 40, 0.01);
    for (const std::string& name : inventory.lowStock(10)) {
        std::cout << "low: " << name << std::endl;
    }
    std::cout << "total: " << inventory.totalValue() << std::endl;
    return 0;
}
