import { createApp } from 'vue';
import App from './App.vue';
import { startRouter } from './router';
import { locale } from './i18n';
import './style.css';

document.documentElement.lang = locale.value;
startRouter();
createApp(App).mount('#app');
